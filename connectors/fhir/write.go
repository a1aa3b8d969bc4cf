package fhir

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// Writes (docs/writes.md). A create is a conditional create: the resource
// carries the host's idempotency identifier, and is POSTed with
// If-None-Exist naming it, so that a source that already holds a resource
// with it answers that one instead of creating a second (FHIR R4 3.1.0.8.1:
// 200 with the match, 201 when it created, 412 when several match). The
// host's digest of the body rides along as a meta.tag: the match is a
// replay when its tag is the request's digest, and a key reused for
// another body when it is not. An update reads the resource, refuses a
// stale If-Match, copies the updated elements onto it and PUTs it with
// If-Match, so that a change between the read and the write is refused by
// the source too.

// The systems of what Ferry writes into a resource: its idempotency
// identifier (identifier.system) and body digest (meta.tag.system).
// Identifiers of the first are hidden from unified records.
const (
	IdempotencySystem = "urn:ferry:idempotency-id"
	DigestSystem      = "urn:ferry:body-digest"
)

var _ connectors.Writer = (*Connector)(nil)

func writeMapping(r unified.ResourceType) (*writeMap, *resourceMap, error) {
	w, ok := writeMaps[r]
	m, ok2 := resourceMaps[r]
	if !ok || !ok2 {
		return nil, nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: "resource"}
	}
	return w, m, nil
}

func writeHeaders(extra ...connectors.Param) []connectors.Param {
	return append([]connectors.Param{
		{Name: "Accept", Value: contentType}, {Name: "Content-Type", Value: contentType},
		{Name: "Prefer", Value: "return=representation"},
	}, extra...)
}

// Create creates a record once per idempotency identifier.
func (c *Connector) Create(ctx context.Context, req *connectors.CreateRequest) (*connectors.WriteResponse, error) {
	if _, err := c.settings(req.ConnectionID); err != nil {
		return nil, err
	}
	wm, m, err := writeMapping(req.Resource)
	if err != nil {
		return nil, err
	}
	if req.Transport == nil || req.IdempotencyID == "" || req.BodyDigest == "" {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: a create needs a transport, an idempotency id and a digest")
	}
	rec := wm.newRecord()
	if err := json.Unmarshal(req.Record, rec); err != nil {
		return nil, connectors.InvalidParam("record")
	}
	body, err := json.Marshal(wm.toFHIR(rec))
	if err != nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: encode: %w", err)
	}
	if body, err = stamp(body, req.IdempotencyID, req.BodyDigest); err != nil {
		return nil, err
	}
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{
		Method: "POST", Path: wm.fhirType, Body: body,
		Header: writeHeaders(connectors.Param{Name: "If-None-Exist", Value: "identifier=" + escapeSearchValue(IdempotencySystem) + "|" + escapeSearchValue(req.IdempotencyID)}),
	})
	if err != nil {
		return nil, err
	}
	replayed := false
	switch resp.Status {
	case 201:
	case 200:
		// The source holds a resource with this identifier already: this
		// create's own earlier attempt, or another body under the same key.
		if digestOf(resp.Body) != req.BodyDigest {
			return nil, &connectors.Error{Code: connectors.CodeIdempotencyKeyReused}
		}
		replayed = true
	default:
		return nil, writeStatusError(resp.Status)
	}
	return c.written(req.ConnectionID, m, resp, replayed)
}

// Update changes the updatable fields the record holds.
func (c *Connector) Update(ctx context.Context, req *connectors.UpdateRequest) (*connectors.WriteResponse, error) {
	if _, err := c.settings(req.ConnectionID); err != nil {
		return nil, err
	}
	wm, m, err := writeMapping(req.Resource)
	if err != nil {
		return nil, err
	}
	if !validID(req.ID) {
		return nil, connectors.InvalidParam("id")
	}
	if req.Transport == nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: no transport")
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(req.Record, &patch); err != nil {
		return nil, connectors.InvalidParam("record")
	}
	rec := wm.newRecord()
	if err := json.Unmarshal(req.Record, rec); err != nil {
		return nil, connectors.InvalidParam("record")
	}
	var mapped map[string]json.RawMessage
	b, err := json.Marshal(wm.toFHIR(rec))
	if err == nil {
		err = json.Unmarshal(b, &mapped)
	}
	if err != nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: encode: %w", err)
	}

	path := wm.fhirType + "/" + req.ID
	cur, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Method: "GET", Path: path, Header: acceptHeader()})
	if err != nil {
		return nil, err
	}
	if err := statusError(cur.Status, false); err != nil {
		return nil, err
	}
	if v := resourceVersion(cur); v != req.IfMatch {
		return nil, connectors.VersionConflict(v)
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(cur.Body, &res); err != nil || res == nil {
		return nil, connectors.Errorf(connectors.CodeUpstream, "fhir: the current resource is not a JSON object")
	}
	for field := range patch {
		elems, ok := wm.elements[field]
		if !ok {
			// The host lets only updatable fields through.
			return nil, connectors.InvalidParam("record")
		}
		for _, e := range elems {
			delete(res, e)
			if v, ok := mapped[e]; ok {
				res[e] = v
			}
		}
	}
	body, err := json.Marshal(res)
	if err != nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: encode: %w", err)
	}
	resp, err := req.Transport.Do(ctx, &connectors.HTTPRequest{
		Method: "PUT", Path: path, Body: body,
		Header: writeHeaders(connectors.Param{Name: "If-Match", Value: `W/"` + req.IfMatch + `"`}),
	})
	if err != nil {
		return nil, err
	}
	switch resp.Status {
	case 200, 201:
	case 409, 412:
		// Changed between the read and the write: the source refused it.
		return nil, c.conflict(ctx, req.Transport, path)
	default:
		return nil, writeStatusError(resp.Status)
	}
	return c.written(req.ConnectionID, m, resp, false)
}

// conflict is the version conflict of a resource that changed under an
// update, with its version now when the source says.
func (c *Connector) conflict(ctx context.Context, tr connectors.Transport, path string) error {
	cur, err := tr.Do(ctx, &connectors.HTTPRequest{Method: "GET", Path: path, Header: acceptHeader()})
	if err != nil || cur.Status != 200 {
		return connectors.VersionConflict("")
	}
	return connectors.VersionConflict(resourceVersion(cur))
}

// written maps the source's answer to a write into the unified record.
func (c *Connector) written(conn string, m *resourceMap, resp *connectors.HTTPResponse, replayed bool) (*connectors.WriteResponse, error) {
	body := resp.Body
	src := c.source(conn)
	var head resourceHead
	if err := json.Unmarshal(body, &head); err != nil || !validID(head.ID) {
		return nil, connectors.Errorf(connectors.CodeUpstream, "fhir: the source's answer to a write is not the resource")
	}
	src.SourceID = head.ID
	rec, err := m.record(body, src, false, false)
	if err != nil {
		return nil, err
	}
	return &connectors.WriteResponse{Record: rec, Version: resourceVersion(resp), Replayed: replayed}, nil
}

// writeStatusError maps the status of a refused write: a source that
// rejects the content (400, 422, 409 on a create) is rejected, not an
// upstream failure worth retrying.
func writeStatusError(status int) error {
	switch status {
	case 400, 409, 422:
		return connectors.Errorf(connectors.CodeRejected, "fhir: source refused the write (status %d)", status)
	case 412:
		// Several resources carry the identifier: the source holds
		// duplicates that Ferry did not make, or its conditional create is
		// not atomic. Not a replay Ferry can vouch for.
		return connectors.Errorf(connectors.CodeUpstream, "fhir: several resources match the idempotency identifier")
	}
	return statusError(status, false)
}

// stamp adds Ferry's idempotency identifier and body digest to a resource.
func stamp(body []byte, id, digest string) ([]byte, error) {
	var res map[string]json.RawMessage
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: stamp: %w", err)
	}
	var ids []wIdentifier
	if raw, ok := res["identifier"]; ok {
		if err := json.Unmarshal(raw, &ids); err != nil {
			return nil, connectors.Errorf(connectors.CodeInternal, "fhir: stamp: %w", err)
		}
	}
	ids = slices.DeleteFunc(ids, func(w wIdentifier) bool { return w.System == IdempotencySystem })
	ids = append(ids, wIdentifier{System: IdempotencySystem, Value: id})
	res["identifier"], _ = json.Marshal(ids)
	res["meta"], _ = json.Marshal(map[string]any{"tag": []wCoding{{System: DigestSystem, Code: digest}}})
	return json.Marshal(res)
}

// resourceVersion is the version of the resource a source answered with:
// its ETag, as reads report it, else its meta.versionId.
func resourceVersion(resp *connectors.HTTPResponse) string {
	if v := etagVersion(resp.Header); v != "" {
		return v
	}
	return versionOf(resp.Body)
}

// versionOf is a resource's meta.versionId, or "".
func versionOf(body []byte) string {
	var r struct {
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	return r.Meta.VersionID
}

// digestOf is the body digest tag of a resource Ferry created, or "".
func digestOf(body []byte) string {
	var r struct {
		Meta struct {
			Tag []wCoding `json:"tag"`
		} `json:"meta"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	for _, t := range r.Meta.Tag {
		if t.System == DigestSystem {
			return t.Code
		}
	}
	return ""
}

// etagVersion is the version in a source's ETag header (W/"3"), or "".
func etagVersion(h []connectors.Param) string {
	for _, p := range h {
		if strings.EqualFold(p.Name, "ETag") {
			v := strings.TrimPrefix(p.Value, "W/")
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
