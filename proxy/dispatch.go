package proxy

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/plugins"
	"github.com/ferryhealth/ferry/proxy/openapi"
	"github.com/ferryhealth/ferry/unified"
)

// dispatch serves the route: the last stage of the pipeline.
func (s *Server) dispatch(x *exchange) *problem {
	switch x.route.template {
	case routeOpenAPI:
		x.rc.Response.Header.SetContentType("application/json")
		x.rc.SetBody(openapi.Document())
		return nil
	case routeCapabilities:
		return s.serveCapabilities(x)
	case routePassthrough:
		return s.servePassthrough(x)
	}
	c, ok := s.conns.Connector(x.conn.kind)
	if !ok {
		return fail(unified.CodeConnectorUnavailable, "")
	}
	// The deadline travels with ctx to the plugin (gRPC carries it) and
	// from there to every source call the host transport makes.
	ctx, cancel := context.WithDeadline(s.baseCtx, x.deadline)
	defer cancel()
	tr := &requestTransport{src: x.conn.source, requestID: x.requestID, readOnly: true, upstream: &x.upstream, rec: &x.up}

	if x.route.template == routeRead {
		resp, err := c.Read(ctx, &connectors.ReadRequest{
			ConnectionID: x.conn.cfg.ID, Resource: x.route.resource, ID: x.route.id, Raw: x.raw, Transport: tr,
		})
		if err != nil {
			return connectorProblem(err, x)
		}
		// The record may be a slice of the plugin's frame, which goes back
		// to its pool once the answer holds a copy.
		defer resp.Release()
		rec, ok := checkRecord(resp.Record, x.route.id, x.fields)
		if !ok {
			return fail(unified.CodeConnectorError, "")
		}
		x.records = 1
		x.rc.Response.Header.SetContentType("application/json")
		x.rc.SetStatusCode(fasthttp.StatusOK)
		x.rc.SetBody(rec)
		return nil
	}

	resp, err := c.Search(ctx, &connectors.SearchRequest{
		ConnectionID: x.conn.cfg.ID, Resource: x.route.resource, Params: x.params, Limit: x.limit,
		PageToken: x.pageToken, Raw: x.raw, Transport: tr,
	})
	if err != nil {
		return connectorProblem(err, x)
	}
	defer resp.Release()
	if len(resp.Records) > x.limit {
		return fail(unified.CodeConnectorError, "")
	}
	next, err := s.nextCursor(x, resp.NextPageToken)
	if err != nil {
		return fail(unified.CodeConnectorError, "")
	}
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	buf.WriteString(`{"data":[`)
	for i, r := range resp.Records {
		rec, ok := checkRecord(r, "", x.fields)
		if !ok {
			return fail(unified.CodeConnectorError, "")
		}
		if i > 0 {
			buf.WriteByte(',')
		}
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
	x.records = len(resp.Records)
	x.rc.Response.Header.SetContentType("application/json")
	x.rc.SetStatusCode(fasthttp.StatusOK)
	x.rc.SetBody(buf.B)
	return nil
}

// connectorProblem maps a connector or host-transport error to the client's
// problem. Nothing of the error's text is used. A refusal of the host's own
// limits keeps its code and Retry-After; a source that answered 429 or 503
// is reported as such, whatever the connector made of it.
func connectorProblem(err error, x *exchange) *problem {
	if rj, ok := hostRejection(err); ok {
		x.hostRejected = true
		return rj.problem()
	}
	return limitsProblem(x, codeProblem(err, x))
}

func codeProblem(err error, x *exchange) *problem {
	detail := func(name string) string {
		if x.capab.Accepts(name) || slices.Contains(unified.ReservedParams, name) {
			return name
		}
		return ""
	}
	if errors.Is(err, plugins.ErrUnavailable) {
		// Refused before the deadline: the plugin is backing off from a
		// crash loop (or stopped), not merely (re)starting, which a request
		// waits for until its deadline.
		x.pluginDown = time.Now().Before(x.deadline)
		return fail(unified.CodeConnectorUnavailable, "")
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		return fail(unified.CodeConnectorError, "")
	}
	switch ce.Code {
	case connectors.CodeNotFound:
		return fail(unified.CodeNotFound, "")
	case connectors.CodeInvalidArgument:
		return fail(unified.CodeInvalidParameter, detail(ce.Param))
	case connectors.CodeUnsupported:
		return fail(unified.CodeUnsupported, detail(ce.Param))
	case connectors.CodeUpstream:
		return fail(unified.CodeUpstreamError, "")
	case connectors.CodeUpstreamTimeout:
		return fail(unified.CodeUpstreamTimeout, "")
	case connectors.CodeSourceUnavailable:
		return fail(unified.CodeSourceUnavailable, "")
	case connectors.CodeCredentialsUnavailable:
		return fail(unified.CodeCredentialsUnavailable, "")
	}
	return fail(unified.CodeConnectorError, "")
}
