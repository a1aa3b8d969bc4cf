package conformance

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// The writes check (docs/writes.md): a plugin whose manifest declares
// create or update must announce the operations on its data plane, make a
// create conditional on the host's idempotency identifier (the identifier
// must reach the source), and answer a failing source with typed errors,
// never a panic.

// idempotencyID and digest are what the kit hands a create, as the host
// would (base64url strings).
const (
	kitIdempotencyID = "conformanceIdem0123456789abcdefghijklmnopq"
	kitDigest        = "conformanceDigest0123456789abcdefghijklmn"
)

// sampleWrites are a valid record per writable resource.
var sampleWrites = map[unified.ResourceType]string{
	unified.Appointments: `{"status":"booked","start":"2027-01-05T09:00:00Z","end":"2027-01-05T09:30:00Z","patient":{"resource":"patients","id":"conformance-patient-1"}}`,
	unified.Documents: `{"status":"current","type":{"text":"Note"},"patient":{"resource":"patients","id":"conformance-patient-1"},` +
		`"contents":[{"attachment":{"content_type":"text/plain","data":"Y29uZm9ybWFuY2U="}}]}`,
	unified.Observations: `{"status":"final","code":{"text":"Heart rate"},"patient":{"resource":"patients","id":"conformance-patient-1"},` +
		`"effective_at":"2027-01-05T09:00:00Z","value":{"type":"quantity","quantity":{"value":70,"unit":"/min"}}}`,
}

func (k *kit) checkWrites() Result {
	if why := k.ready(); why != "" {
		return skip(why)
	}
	var writes []target
	for _, r := range k.meta.GetResources() {
		res := unified.ResourceType(r.GetResource())
		body, ok := sampleWrites[res]
		if !ok {
			continue
		}
		if r.GetCreate() {
			writes = append(writes, target{op: "create", resource: res, record: []byte(body)})
		}
		if r.GetUpdate() {
			writes = append(writes, target{op: "update", resource: res, id: "conformance-1", record: []byte(`{"status":"cancelled"}`)})
		}
	}
	if len(writes) == 0 {
		return skip("the manifest declares no writes")
	}
	var p problems
	if !slices.Contains(k.p.operations, "create") || !slices.Contains(k.p.operations, "update") {
		p.add("the manifest declares writes, but the plugin's Hello announces %v: implement connectors.Writer (the host sends no write otherwise)", k.p.operations)
		return p.result("writes", "")
	}
	for _, t := range writes {
		label := t.op + " " + string(t.resource)
		var seen [][]byte
		capture := func(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
			var b bytes.Buffer
			b.WriteString(req.Path)
			for _, q := range req.Query {
				b.WriteString(" " + q.Name + "=" + q.Value)
			}
			for _, h := range req.Header {
				b.WriteString(" " + h.Name + ": " + h.Value)
			}
			b.Write(req.Body)
			seen = append(seen, b.Bytes())
			return answer(500, "application/json", errorBody)(ctx, req)
		}
		o := k.do(t, label+", source answered 500", capture, k.o.CallTimeout)
		switch {
		case o.is("panic", "no answer", "internal"):
			p.add("%s, source answered 500, gave %s; want upstream", label, o.describe())
		case !o.is("upstream", "source_unavailable"):
			p.add("%s, source answered 500, gave %s; want upstream", label, o.describe())
		}
		if t.op == "create" && !slices.ContainsFunc(seen, func(b []byte) bool { return bytes.Contains(b, []byte(kitIdempotencyID)) }) {
			p.add("%s: no source request carries the host's idempotency identifier: a create must be conditional on it (FHIR: If-None-Exist), or a retry creates a second record", label)
		}
		l := label + ", Transport failed with upstream_timeout"
		if o := k.do(t, l, fail(connectors.CodeUpstreamTimeout), k.o.CallTimeout); !o.is("upstream_timeout") {
			p.add("%s gave %s; return the Transport's error as it is", l, o.describe())
		}
	}
	var names []string
	for _, t := range writes {
		names = append(names, t.op+" "+string(t.resource))
	}
	return p.result("writes", fmt.Sprintf("%s: announced, conditional on the idempotency identifier, typed errors from a failing source", strings.Join(names, ", ")))
}

// write makes one create or update call.
func (k *kit) write(ctx context.Context, t target, conn string, c *call) ([][]byte, connectors.CallInfo, error) {
	var resp *connectors.WriteResponse
	var info connectors.CallInfo
	var err error
	if t.op == "create" {
		resp, info, err = k.p.conn.Create(ctx, &connectors.CreateRequest{ConnectionID: conn, Resource: t.resource, Record: t.record,
			IdempotencyID: kitIdempotencyID, BodyDigest: kitDigest, Transport: c})
	} else {
		resp, info, err = k.p.conn.Update(ctx, &connectors.UpdateRequest{ConnectionID: conn, Resource: t.resource, ID: t.id,
			Record: t.record, IfMatch: "1", Transport: c})
	}
	if err != nil {
		return nil, info, err
	}
	defer resp.Release()
	return [][]byte{append([]byte(nil), resp.Record...)}, info, nil
}
