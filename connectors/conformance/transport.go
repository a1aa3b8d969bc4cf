package conformance

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
)

// script answers a plugin's Transport requests during one call.
type script func(ctx context.Context, req *pb.HTTPRequest) *pb.HTTPResponse

// fakeTransport is the kit's stand-in for the host's Transport service. Like
// the host's, it serves a request only for a call id the kit minted for a
// call in flight, and refuses paths and methods the host refuses; unlike it,
// it answers from the script of the check being run.
type fakeTransport struct {
	pb.UnimplementedTransportServer
	next  atomic.Uint64
	calls sync.Map // uint64 → *call

	mu         sync.Mutex
	strays     int // requests with a call id not in flight
	requests   int
	violations problems
}

// call is the Transport activity of one kit call.
type call struct {
	label  string
	script script
	// xscript answers the call's message exchanges (Transport.Exchange);
	// nil answers them as the host does on an HTTP connection, with
	// unsupported.
	xscript xscript

	mu         sync.Mutex
	requests   int
	exchanges  int       // Exchange requests, not counted in requests
	noDeadline int       // requests whose context carried no deadline
	inflight   int       // requests being served
	lastEnd    time.Time // when the last request ended
	idle       chan struct{}
}

func (f *fakeTransport) open(label string, s script, xs xscript) (uint64, *call) {
	id := f.next.Add(1)
	c := &call{label: label, script: s, xscript: xs}
	f.calls.Store(id, c)
	return id, c
}

func (f *fakeTransport) close(id uint64) { f.calls.Delete(id) }

func (f *fakeTransport) Do(ctx context.Context, req *pb.HTTPRequest) (*pb.HTTPResponse, error) {
	v, ok := f.calls.Load(req.GetCallId())
	f.mu.Lock()
	f.requests++
	if !ok {
		f.strays++
		f.mu.Unlock()
		return &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, Param: "call_id"}}, nil
	}
	f.mu.Unlock()
	c := v.(*call)
	c.begin(ctx)
	defer c.end()
	method := req.GetMethod()
	if !connectors.ReadMethod(method) {
		f.violation("%s: method %s; the host allows only GET and HEAD while serving a read or a search", c.label, method)
		return &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL}}, nil
	}
	if !connectors.ValidRelativePath(req.GetPath()) {
		f.violation("%s: path %q; the host takes only a path relative to the base URL (no scheme, host, leading slash, dot segment, query or fragment)", c.label, clip(req.GetPath()))
		return &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL}}, nil
	}
	for _, h := range req.GetHeaders() {
		if !connectors.RequestHeaderAllowed(h.GetName()) {
			f.violation("%s: header %s, which the host drops (allowed: Accept, Content-Type, Prefer, If-None-Match, If-Match, If-Modified-Since, Accept-Language)", c.label, clip(h.GetName()))
		}
	}
	if c.script == nil {
		// What the host answers on a connection whose source is not HTTP.
		return &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNSUPPORTED}}, nil
	}
	return c.script(ctx, req), nil
}

func (f *fakeTransport) violation(format string, args ...any) {
	f.mu.Lock()
	f.violations.add(format, args...)
	f.mu.Unlock()
}

func (f *fakeTransport) stats() (requests, strays int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.strays
}

func (c *call) begin(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
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

// track counts a request in flight; c.mu is held.
func (c *call) track(ctx context.Context) {
	c.inflight++
	if _, ok := ctx.Deadline(); !ok {
		c.noDeadline++
	}
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
func (c *call) snapshot() (requests, noDeadline, inflight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.noDeadline, c.inflight
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
	return func(context.Context, *pb.HTTPRequest) *pb.HTTPResponse {
		r := &pb.HTTPResponse{Status: int32(status), Body: body}
		if contentType != "" {
			r.Headers = []*pb.Header{{Name: "Content-Type", Value: contentType}}
		}
		return r
	}
}

// fail answers every request with a host transport error.
func fail(code pb.ErrorCode) script {
	return func(context.Context, *pb.HTTPRequest) *pb.HTTPResponse {
		return &pb.HTTPResponse{Error: &pb.Error{Code: code}}
	}
}

// hang never answers: a source that accepted the connection and went quiet.
// The host's transport gives up when the request's context ends, with
// upstream_timeout.
func hang(ctx context.Context, _ *pb.HTTPRequest) *pb.HTTPResponse {
	<-ctx.Done()
	return &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UPSTREAM_TIMEOUT}}
}

// timeoutAfter is the host transport giving up on a silent source after d,
// its own deadline, with upstream_timeout.
func timeoutAfter(d time.Duration) script {
	return func(ctx context.Context, _ *pb.HTTPRequest) *pb.HTTPResponse {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UPSTREAM_TIMEOUT}}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
