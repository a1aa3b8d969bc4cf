package proxy

import (
	"encoding/json"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// Writes through the unified API: POST /v1/{connection_id}/{resource}
// creates, PATCH /v1/{connection_id}/{resource}/{id} updates the fields
// given. docs/writes.md is the contract; idempotency.go derives what makes
// a create safe to retry; writebody.go decodes the body.

// The write headers.
const (
	headerIdempotencyKey = "Idempotency-Key"
	headerIfMatch        = "If-Match"
	headerReplayed       = "Idempotent-Replayed"
)

// write is what parse_body made of a write: the record the connector gets,
// and what makes it safe to retry.
type write struct {
	record []byte
	// create: the derived identifier and the body's digest.
	idempotencyID, digest string
	// update: the version the client read.
	ifMatch string
	// patientID is the record's patient, for the audit event's reference:
	// the body's on a create, the written record's on an update.
	patientID string
	// recordID is the written record's id, once written.
	recordID string
}

// writeRoute turns a search's path under POST into a create and a read's
// under PATCH into an update.
func writeRoute(r route, method []byte) (route, bool) {
	switch {
	case r.template == routeSearch && string(method) == fasthttp.MethodPost:
		r.template = routeCreate
	case r.template == routeRead && string(method) == fasthttp.MethodPatch:
		r.template = routeUpdate
	default:
		return r, false
	}
	return r, true
}

// parseBody is the write's parse stage: the manifest must offer the
// operation, the headers must be there, and the body must be the
// resource's unified JSON, decoded strictly. Nothing is sent to the plugin
// before all of it passes.
func (s *Server) parseBody(x *exchange) *verdict.Problem {
	if !x.route.write() {
		return nil
	}
	if !x.route.resource.Known() {
		return verdict.Fail(unified.CodeNotFound, "")
	}
	if x.rc.QueryArgs().Len() > 0 {
		return verdict.Fail(unified.CodeInvalidParameter, "")
	}
	meta, ok := s.conns.Metadata(x.conn.kind)
	if !ok {
		return verdict.Fail(unified.CodeConnectorUnavailable, "")
	}
	capab, _ := meta.Resource(x.route.resource)
	spec, writable := unified.Writable(x.route.resource)
	create := x.route.template == routeCreate
	if !writable || (create && !capab.Create) || (!create && !capab.Update) {
		return verdict.Fail(unified.CodeUnsupported, string(x.route.resource))
	}
	x.q.capab = capab
	h := &x.rc.Request.Header
	var writeKey []byte
	if create {
		key := h.Peek(headerIdempotencyKey)
		if !validIdempotencyKey(key) {
			return verdict.Fail(unified.CodeIdempotencyKeyRequired, headerIdempotencyKey)
		}
		t := x.tab.tenants[x.conn.cfg.Tenant]
		if t == nil || !t.served {
			return verdict.Fail(unified.CodeInternal, "")
		}
		wk := t.writeKey.Load()
		if wk == nil {
			// The tenant's audit key has not been read yet (isolation).
			return verdict.Fail(unified.CodeCredentialsUnavailable, "")
		}
		writeKey = *wk
		x.w.idempotencyID = idempotencyID(writeKey, x.client.id, x.conn.cfg.ID, x.route.resource, key)
	} else {
		if !validSourceID(x.route.id) {
			return verdict.Fail(unified.CodeInvalidID, "")
		}
		v, ok := parseIfMatch(h.Peek(headerIfMatch))
		if !ok {
			return verdict.Fail(unified.CodePreconditionRequired, headerIfMatch)
		}
		x.w.ifMatch = v
	}
	if ct := h.ContentType(); len(ct) > 0 && !strings.HasPrefix(strings.ToLower(string(ct)), "application/json") {
		return verdict.Fail(unified.CodeBadRequest, "Content-Type")
	}
	body := x.rc.PostBody()
	if len(body) > connectors.MaxWriteBodyBytes {
		return verdict.Fail(unified.CodeRequestTooLarge, "")
	}
	rec, problems := decodeWriteBody(x.route.resource, spec, body, !create)
	if len(problems) > 0 {
		return &verdict.Problem{Code: unified.CodeInvalidBody, Errors: problems}
	}
	x.w.record = rec
	if create {
		x.w.digest = bodyDigest(writeKey, x.route.resource, rec)
		x.w.patientID = patientOf(rec)
	}
	return nil
}

// parseIfMatch takes the version out of an ETag the client got from a read
// (W/"3", "3", or 3 bare); one version only, no "*".
func parseIfMatch(v []byte) (string, bool) {
	s := strings.TrimSpace(string(v))
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s, connectors.ValidVersion(s)
}

// serveWrite sends the create or the update to the connector and answers
// with the record as the source now holds it: 201 with Location for a new
// record, 200 with Idempotent-Replayed for a create that found its own
// earlier record, 200 for an update; ETag is the record's new version.
func (s *Server) serveWrite(x *exchange) *verdict.Problem {
	c, ok := s.conns.Connector(x.conn.kind)
	if !ok {
		return verdict.Fail(unified.CodeConnectorUnavailable, "")
	}
	w, ok := c.(connectors.Writer)
	if !ok {
		return verdict.Fail(unified.CodeUnsupported, string(x.route.resource))
	}
	op := "update"
	if x.route.template == routeCreate {
		op = "create"
	}
	ctx, end := s.callContext(x, op)
	defer end()
	tr := s.lendTransport(x, false)
	tr.RefuseDeletes()

	var resp *connectors.WriteResponse
	var err error
	if x.route.template == routeCreate {
		if !s.creates.acquire(x.w.idempotencyID, ctx.Done()) {
			return verdict.Fail(unified.CodeUpstreamTimeout, "")
		}
		resp, err = func() (*connectors.WriteResponse, error) {
			defer s.creates.release(x.w.idempotencyID) // also if the connector panics
			return w.Create(ctx, &connectors.CreateRequest{
				ConnectionID: x.conn.cfg.ID, Resource: x.route.resource, Record: x.w.record,
				IdempotencyID: x.w.idempotencyID, BodyDigest: x.w.digest, Transport: tr,
			})
		}()
	} else {
		resp, err = w.Update(ctx, &connectors.UpdateRequest{
			ConnectionID: x.conn.cfg.ID, Resource: x.route.resource, ID: x.route.id, Record: x.w.record,
			IfMatch: x.w.ifMatch, Transport: tr,
		})
	}
	if err != nil {
		return s.judge(x, err)
	}
	defer resp.Release()
	wantID := ""
	if x.route.template == routeUpdate {
		wantID = x.route.id
	}
	rec, ok := checkRecord(resp.Record, wantID, nil)
	id := recordID(rec)
	if !ok || !validSourceID(id) {
		return verdict.Fail(unified.CodeConnectorError, "")
	}
	x.w.recordID = id
	if x.route.template == routeUpdate {
		x.w.patientID = patientOf(rec)
	}
	x.records = 1
	h := &x.rc.Response.Header
	setETag(x.rc, resp.Version)
	status := fasthttp.StatusOK
	switch {
	case x.route.template == routeUpdate:
	case resp.Replayed:
		h.Set(headerReplayed, "true")
	default:
		status = fasthttp.StatusCreated
		h.Set("Location", "/v1/"+x.conn.cfg.ID+"/"+string(x.route.resource)+"/"+id)
	}
	h.SetContentType("application/json")
	x.rc.SetStatusCode(status)
	x.rc.SetBody(rec)
	return nil
}

// recordID is the "id" of a record checkRecord passed, or "".
func recordID(rec []byte) string {
	var r struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(rec, &r) != nil {
		return ""
	}
	return r.ID
}

// patientOf is the id of a record's patient reference, or "".
func patientOf(rec []byte) string {
	var r struct {
		Patient *unified.Reference `json:"patient"`
	}
	if json.Unmarshal(rec, &r) != nil || r.Patient == nil || r.Patient.Resource != unified.Patients || !validSourceID(r.Patient.ID) {
		return ""
	}
	return r.Patient.ID
}

// auditWrite adds what a write's audit event says of it: the keyed
// references of the record written and of its patient. Never the body,
// the idempotency key or a field's value.
func (s *Server) auditWrite(x *exchange, ev *auditlog.Event) {
	if !x.route.write() || x.conn == nil {
		return
	}
	t := x.tab.tenants[x.conn.cfg.Tenant]
	if t == nil || !t.served {
		return
	}
	refs := t.refs.Load()
	if refs == nil {
		return
	}
	if x.w.patientID != "" {
		ev.PatientRef = refs.Ref(t.id, x.conn.cfg.ID, x.w.patientID)
	}
	id := x.w.recordID
	if id == "" && x.route.template == routeUpdate && validSourceID(x.route.id) {
		id = x.route.id // a refused update names the record it meant
	}
	if id != "" {
		ev.RecordRef = refs.Ref(t.id, x.conn.cfg.ID, string(x.route.resource)+"/"+id)
	}
}
