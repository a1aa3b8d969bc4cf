package conformance

import (
	"context"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors"
)

// script answers a plugin's HTTP requests during one call.
type script func(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error)

// fakeTransport is the kit's stand-in for the host's transport. Like the
// host's, it refuses paths and methods the host refuses; unlike it, it
// answers from the script of the check being run. (The host's end of the
// data plane, connectors.HostConn, serves a plugin's request only for a
// call in flight, through that call's Transport: the kit uses it too.)
type fakeTransport struct {
	mu         sync.Mutex
	requests   int
	violations problems
}

// call is the Transport of one kit call, and its activity.
type call struct {
	ft     *fakeTransport
	label  string
	script script
	// writes: the call is a create or an update, which may POST, PUT and
	// PATCH.
	writes bool
	// xscript answers the call's message exchanges (Transport.Exchange);
	// nil answers them as the host does on an HTTP connection, with
	// unsupported.
	xscript xscript

	mu        sync.Mutex
	requests  int
	exchanges int       // Exchange requests, not counted in requests
	inflight  int       // requests being served
	lastEnd   time.Time // when the last request ended
	idle      chan struct{}
	first     *connectors.HTTPRequest // the first HTTP request, kept for the template check
}

var (
	_ connectors.Transport = (*call)(nil)
	_ connectors.Exchanger = (*call)(nil)
)

func (f *fakeTransport) open(label string, s script, xs xscript) *call {
	return &call{ft: f, label: label, script: s, xscript: xs}
}

func (c *call) Do(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	f := c.ft
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	c.begin(ctx, req)
	defer c.end()
	method := req.Method
	if c.writes && (method == "POST" || method == "PUT" || method == "PATCH") {
		method = "GET" // the write methods the host lends a write
	}
	if !connectors.ReadMethod(method) {
		f.violation("%s: method %s; the host allows only GET and HEAD while serving a read or a search", c.label, method)
		return nil, &connectors.Error{Code: connectors.CodeInternal}
	}
	if !connectors.ValidRelativePath(req.Path) {
		f.violation("%s: path %q; the host takes only a path relative to the base URL (no scheme, host, leading slash, dot segment, query or fragment)", c.label, clip(req.Path))
		return nil, &connectors.Error{Code: connectors.CodeInternal}
	}
	for _, h := range req.Header {
		if !connectors.RequestHeaderAllowed(h.Name) {
			f.violation("%s: header %s, which the host drops (allowed: Accept, Content-Type, Prefer, If-None-Match, If-Match, If-Modified-Since, Accept-Language, If-None-Exist)", c.label, clip(h.Name))
		}
	}
	if c.script == nil {
		// What the host answers on a connection whose source is not HTTP.
		return nil, &connectors.Error{Code: connectors.CodeUnsupported}
	}
	return c.script(ctx, req)
}

func (f *fakeTransport) violation(format string, args ...any) {
	f.mu.Lock()
	f.violations.add(format, args...)
	f.mu.Unlock()
}

func (f *fakeTransport) stats() (requests int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (c *call) begin(ctx context.Context, req *connectors.HTTPRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if c.first == nil {
		// Kept past the call for the report: without its body, which is
		// a slice of a frame that goes back to its pool.
		first := *req
		first.Body = nil
		c.first = &first
	}
	c.track(ctx)
}

// beginExchange counts an Exchange request apart from HTTP ones, so that
// the HTTP checks still tell which operations use Do.
func (c *call) beginExchange(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exchanges++
	c.track(ctx)
}

// track counts a request in flight; c.mu is held. (The host's end of the
// data plane serves a request under its call's context, deadline included,
// whatever context the plugin passed: only whether the plugin gives up in
// time is the plugin's to get right.)
func (c *call) track(context.Context) {
	c.inflight++
}

func (c *call) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	c.lastEnd = time.Now()
	if c.inflight == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// snapshot returns the call's counters.
func (c *call) snapshot() (requests, inflight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.inflight
}

// waitIdle waits until no request of the call is being served, or d passes.
func (c *call) waitIdle(d time.Duration) bool {
	c.mu.Lock()
	if c.inflight == 0 {
		c.mu.Unlock()
		return true
	}
	if c.idle == nil {
		c.idle = make(chan struct{})
	}
	ch := c.idle
	c.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// Scripts.

// answer returns the same HTTP answer to every request.
func answer(status int, contentType string, body []byte) script {
	return func(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		r := &connectors.HTTPResponse{Status: status, Body: body}
		if contentType != "" {
			r.Header = []connectors.Param{{Name: "Content-Type", Value: contentType}}
		}
		return r, nil
	}
}

// fail answers every request with a host transport error.
func fail(code connectors.ErrorCode) script {
	return func(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		return nil, &connectors.Error{Code: code}
	}
}

// hang never answers: a source that accepted the connection and went quiet.
// The host's transport gives up when the request's context ends, with
// upstream_timeout.
func hang(ctx context.Context, _ *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	<-ctx.Done()
	return nil, &connectors.Error{Code: connectors.CodeUpstreamTimeout}
}

// timeoutAfter is the host transport giving up on a silent source after d,
// its own deadline, with upstream_timeout.
func timeoutAfter(d time.Duration) script {
	return func(ctx context.Context, _ *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return nil, &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
