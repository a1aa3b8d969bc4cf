package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/tracing"
)

// Source is one connection's source system, as the host reaches it: built
// once at start, shared by every request of the connection.
type Source interface {
	// do sends a connector's HTTP request; an MLLP source refuses it.
	do(ctx context.Context, t *Transport, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error)
	// exchange sends a connector's HL7 v2 message; an HTTP source refuses
	// it.
	exchange(ctx context.Context, t *Transport, msg []byte) ([]byte, error)
	// RelaysHTTP reports whether the source speaks HTTP, so that a
	// passthrough can reach it.
	RelaysHTTP() bool
	// Close drops what the source keeps open of its own (the HTTP clients'
	// sockets are the Clients'), at shutdown.
	Close()
}

// Options are what New needs besides the connection.
type Options struct {
	// Clients are the node's shared HTTP clients.
	Clients *Clients
	// Secrets is the provider of the connection's tenant, and no other's.
	Secrets secrets.Provider
	// DevMode allows plain-HTTP token endpoints.
	DevMode bool
	// Log receives throttled credential failures (never a secret); nil
	// discards them.
	Log *slog.Logger
}

// New builds the source of a connection, by its base URL's scheme.
func New(cn *config.Connection, o Options) (Source, error) {
	u, err := url.Parse(cn.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("connection %q: base_url: %w", cn.ID, err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	roots, err := loadRoots(cn.CAFile)
	if err != nil {
		return nil, fmt.Errorf("connection %q: ca_file: %w", cn.ID, err)
	}
	if isMLLP(u.Scheme) {
		return newMLLPSource(cn, u, o.Clients, roots)
	}
	return newHTTPSource(cn, u, o, roots)
}

// Transport is the connectors.Transport lent to a connector for one
// request: its way to the connection's source, through the connection's
// guard, recording what the source answered. It is made per request by the
// pipeline (NewTransport), and used only while the request runs.
type Transport struct {
	src       Source
	guard     *guard.Guard
	rec       *Record
	requestID string
	readOnly  bool
	// noDelete: a unified write's transport, which may create and change
	// records at the source but never remove one.
	noDelete bool
}

var (
	_ connectors.Transport = (*Transport)(nil)
	_ connectors.Exchanger = (*Transport)(nil)
)

// NewTransport is the transport of one request to src: its calls go
// through g, are recorded in rec, carry requestID (X-Request-Id) and, when
// readOnly, may only read (GET, HEAD).
func NewTransport(src Source, g *guard.Guard, rec *Record, requestID string, readOnly bool) Transport {
	return Transport{src: src, guard: g, rec: rec, requestID: requestID, readOnly: readOnly}
}

// RefuseDeletes makes the transport refuse DELETE: what a unified write
// lends its connector, which needs POST, PUT and PATCH but never DELETE.
func (t *Transport) RefuseDeletes() { t.noDelete = true }

// Do sends one HTTP request to the connection's source.
func (t *Transport) Do(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	if req == nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "no request")
	}
	if !trace.SpanFromContext(ctx).IsRecording() {
		// Not recorded: the source still gets the request's trace context
		// (http.go), no span is made.
		return t.src.do(ctx, t, req)
	}
	method := "GET"
	if req.Method != "" {
		method = tracing.Method(req.Method)
	}
	ctx, sp := tracing.StartChild(ctx, "source "+method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", method)))
	defer sp.End()
	resp, err := t.src.do(ctx, t, req)
	endSourceSpan(sp, err)
	if resp != nil {
		sp.SetAttributes(attribute.Int("http.response.status_code", resp.Status))
	}
	return resp, err
}

// endSourceSpan records a failed source call's code on its span, never
// the error's text, which may quote the source.
func endSourceSpan(sp trace.Span, err error) {
	if err != nil && sp.IsRecording() {
		code := connectors.CodeOf(err).String()
		sp.SetAttributes(attribute.String("ferry.error_code", code))
		sp.SetStatus(codes.Error, code)
	}
}

// Exchange sends one HL7 v2 message (unframed) to the connection's MLLP
// source and returns its answer (unframed).
func (t *Transport) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return t.src.exchange(ctx, t, msg)
	}
	ctx, sp := tracing.StartChild(ctx, "source mllp", trace.WithSpanKind(trace.SpanKindClient))
	defer sp.End()
	out, err := t.src.exchange(ctx, t, msg)
	endSourceSpan(sp, err)
	return out, err
}

// call makes one source call, whatever the protocol (an HTTP request, an
// MLLP exchange), through the connection's guard: it is refused during a
// source's Retry-After, takes its turn from the pacer (or is refused if the
// turn comes after the deadline), and retries an idempotent call after a
// connection error, with backoff, while the retry budget and the deadline
// allow. attempt makes one try, returns a classified error (a
// *connectors.Error) and records an answer itself; call records the faults.
func (t *Transport) call(ctx context.Context, deadline time.Time, idempotent bool, attempt func() error) error {
	c := t.guard.Call(deadline)
	sp := trace.SpanFromContext(ctx)
	for try := 1; ; try++ {
		if rj := c.Attempt(); rj != nil {
			sp.AddEvent("refused by the guard", trace.WithAttributes(attribute.Int("attempt", try)))
			return &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: rj}
		}
		err := attempt()
		if err == nil {
			return nil
		}
		f := faultOf(ctx, err)
		t.rec.failed(f)
		if !idempotent || f != guard.FaultConnect || errors.Is(err, errEgressDenied) || !c.Retry(ctx) {
			return err
		}
		sp.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", try+1),
			attribute.String("after", connectors.CodeOf(err).String())))
	}
}

// faultOf says how a classified source call failed, for the breaker and
// the retry decision.
func faultOf(ctx context.Context, err error) guard.Fault {
	if errors.Is(ctx.Err(), context.Canceled) {
		return guard.FaultCanceled
	}
	if errors.Is(err, fasthttp.ErrNoFreeConns) || errors.Is(err, errMLLPBusy) {
		return guard.FaultPool
	}
	switch connectors.CodeOf(err) {
	case connectors.CodeUpstreamTimeout:
		return guard.FaultTimeout
	case connectors.CodeUpstream:
		return guard.FaultAnswer
	}
	return guard.FaultConnect
}

// deadlineOf is ctx's deadline, or the connection's timeout from now when
// ctx has none.
func deadlineOf(ctx context.Context, clk clock.Clock, cn *config.Connection) (time.Time, bool) {
	if d, ok := ctx.Deadline(); ok {
		return d, true
	}
	return clk.Now().Add(cn.Timeout.D()), false
}
