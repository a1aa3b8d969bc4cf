package proxy

import (
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// dispatch serves the route: the last stage of the pipeline.
func (s *Server) dispatch(x *exchange) *verdict.Problem {
	switch x.route.template {
	case routeCapabilities:
		return s.serveCapabilities(x)
	case routePassthrough:
		return s.servePassthrough(x)
	case routeCreate, routeUpdate:
		return s.serveWrite(x)
	}
	if x.authz.empty && x.route.template == routeChanges {
		// Another patient's feed, in a compartment: no changes, ever.
		return s.writeChanges(x, changePoll{next: *x.q.changes})
	}
	if x.authz.empty {
		x.rc.Response.Header.SetContentType("application/json")
		x.rc.SetBody([]byte(`{"data":[]}`))
		return nil
	}
	c, ok := s.conns.Connector(x.conn.kind)
	if !ok {
		return verdict.Fail(unified.CodeConnectorUnavailable, "")
	}
	if x.route.template == routeChanges {
		return s.serveChanges(x, c)
	}
	// The deadline travels with ctx to the plugin (the data plane carries
	// it) and from there to every source call the transport makes.
	tr := s.lendTransport(x, true)
	if x.route.template == routeRead || x.authz.ownPatient {
		ctx, end := s.callContext(x, "read")
		defer end()
		id := x.route.id
		if x.authz.ownPatient {
			id = x.authz.patient
		}
		resp, err := c.Read(ctx, &connectors.ReadRequest{
			ConnectionID: x.conn.cfg.ID, Resource: x.route.resource, ID: id, Raw: x.q.raw, Transport: tr,
		})
		if err != nil {
			p := s.judge(x, err)
			if x.authz.ownPatient && p.Code == unified.CodeNotFound {
				return s.writeOwnPatient(x, nil)
			}
			return p
		}
		// The record may be a slice of the plugin's frame, which goes back
		// to its pool once the answer holds a copy.
		defer resp.Release()
		if !x.authz.admits(x.route.resource, resp.Record) {
			return s.refuse(x, x.authz.recordRefusal(), unified.CodeNotFound)
		}
		rec, ok := checkRecord(resp.Record, id, x.q.fields)
		if ok {
			rec, ok = s.sealRecord(x, rec)
		}
		if !ok {
			return verdict.Fail(unified.CodeConnectorError, "")
		}
		if x.authz.ownPatient {
			return s.writeOwnPatient(x, rec)
		}
		x.records = 1
		setETag(x.rc, resp.Version)
		x.rc.Response.Header.SetContentType("application/json")
		x.rc.SetStatusCode(fasthttp.StatusOK)
		x.rc.SetBody(rec)
		return nil
	}

	ctx, end := s.callContext(x, "search")
	defer end()
	resp, err := c.Search(ctx, &connectors.SearchRequest{
		ConnectionID: x.conn.cfg.ID, Resource: x.route.resource, Params: x.q.params, Limit: x.q.limit,
		PageToken: x.q.pageToken, Raw: x.q.raw, Transport: tr,
	})
	if err != nil {
		return s.judge(x, err)
	}
	defer resp.Release()
	if len(resp.Records) > x.q.limit {
		return verdict.Fail(unified.CodeConnectorError, "")
	}
	next, err := s.nextCursor(x, resp.NextPageToken)
	if err != nil {
		return verdict.Fail(unified.CodeConnectorError, "")
	}
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	buf.WriteString(`{"data":[`)
	n := 0
	for _, r := range resp.Records {
		if !x.authz.admits(x.route.resource, r) {
			// A record the connector should not have answered: dropped,
			// not an error, so a source that cannot filter still serves.
			continue
		}
		rec, ok := checkRecord(r, "", x.q.fields)
		if ok {
			rec, ok = s.sealRecord(x, rec)
		}
		if !ok {
			return verdict.Fail(unified.CodeConnectorError, "")
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		buf.Write(rec)
	}
	buf.WriteString(`]`)
	if next != "" {
		// Cursors are base64url: nothing in them needs JSON escaping.
		buf.WriteString(`,"next_cursor":"`)
		buf.WriteString(next)
		buf.WriteByte('"')
	}
	buf.WriteByte('}')
	x.records = n
	x.rc.Response.Header.SetContentType("application/json")
	x.rc.SetStatusCode(fasthttp.StatusOK)
	x.rc.SetBody(buf.B)
	return nil
}

// setETag sends a record's source version as its ETag (W/"3"), without
// allocating: reads do it on every answer.
func setETag(rc *fasthttp.RequestCtx, version string) {
	if !connectors.ValidVersion(version) {
		return
	}
	var buf [72]byte
	b := append(buf[:0], `W/"`...)
	b = append(b, version...)
	b = append(b, '"')
	rc.Response.Header.SetBytesV("ETag", b)
}

// lendTransport is the request's way to its connection's source, through
// the connection's guard, recording into x.up. A unified read may only read
// (readOnly); a passthrough relays the client's method.
func (s *Server) lendTransport(x *exchange, readOnly bool) *source.Transport {
	x.transport = source.NewTransport(x.conn.source, x.conn.guard, &x.up, x.requestID, readOnly)
	return &x.transport
}

// judge is the verdict on a connector's or the transport's error.
func (s *Server) judge(x *exchange, err error) *verdict.Problem {
	return verdict.Judge(err, verdict.Facts{
		Source: x.up.Snapshot(), Capability: x.q.capab, Now: s.clock.Now(), Deadline: x.deadline,
	})
}
