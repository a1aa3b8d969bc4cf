package proxy

import (
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// passthroughMethods are the methods relayed to a source.
var passthroughMethods = map[string]bool{
	fasthttp.MethodGet: true, fasthttp.MethodHead: true, fasthttp.MethodPost: true,
	fasthttp.MethodPut: true, fasthttp.MethodPatch: true, fasthttp.MethodDelete: true,
}

// passthroughRequestHeaders are the client headers relayed to the source.
// Authorization is Ferry's own (the client's API key) and never relayed;
// the host transport adds the connection's credential instead.
var passthroughRequestHeaders = []string{
	"Accept", "Content-Type", "Prefer", "If-Match", "If-None-Match", "If-Modified-Since", "Accept-Language",
}

// passthroughResponseHeaders are the source headers relayed to the client.
// Location is not among them: it names the source's host, which is Ferry's
// business and not the client's.
var passthroughResponseHeaders = map[string]bool{
	"content-type": true, "etag": true, "last-modified": true, "retry-after": true,
}

// servePassthrough relays a request to the connection's source: a path
// relative to the base URL, under the same auth, egress policy, deadline
// and size limits as the connector's own requests. The answer comes back as
// the source gave it (status, body and a few headers): this is the escape
// hatch for what the unified API does not map.
func (s *Server) servePassthrough(x *exchange) *verdict.Problem {
	if !connectors.ValidRelativePath(x.route.path) {
		return verdict.Fail(unified.CodeInvalidParameter, "path")
	}
	ctx, cancel := s.requestContext(x)
	defer cancel()
	tr := s.lendTransport(x, false)

	req := &connectors.HTTPRequest{Method: string(x.rc.Method()), Path: x.route.path, Body: x.rc.PostBody()}
	for k, v := range x.rc.QueryArgs().All() {
		req.Query = append(req.Query, connectors.Param{Name: string(k), Value: string(v)})
	}
	for _, h := range passthroughRequestHeaders {
		if v := x.rc.Request.Header.Peek(h); len(v) > 0 {
			req.Header = append(req.Header, connectors.Param{Name: h, Value: string(v)})
		}
	}
	resp, err := tr.Do(ctx, req)
	if err != nil {
		return s.judge(x, err)
	}
	switch resp.Status {
	case fasthttp.StatusUnauthorized, fasthttp.StatusForbidden, fasthttp.StatusProxyAuthRequired:
		// The source refused Ferry's credential, not the client's: relayed
		// as it is, a 401 would tell the client its own API key is wrong.
		return verdict.Fail(unified.CodeUpstreamError, "")
	}
	for _, h := range resp.Header {
		if passthroughResponseHeaders[strings.ToLower(h.Name)] {
			x.rc.Response.Header.Set(h.Name, h.Value)
		}
	}
	// The source's Retry-After is relayed as Ferry honours it: in seconds,
	// clamped to the connection's max_retry_after.
	x.rc.Response.Header.Del("Retry-After")
	if up := x.up.Snapshot(); up.RetryAfter > 0 {
		x.rc.Response.Header.Set("Retry-After", verdict.RetryAfterSeconds(up.RetryAfter))
	}
	x.rc.SetStatusCode(resp.Status)
	x.rc.SetBody(resp.Body)
	return nil
}
