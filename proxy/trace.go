package proxy

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferryhealth/ferry/proxy/tracing"
	"github.com/ferryhealth/ferry/proxy/verdict"
)

// The spans of a request (docs/tracing.md): one for the request, named
// "{method} {route template}" once routed; one per traced stage (see
// pipeline); one per plugin call; one per source call, made in the host
// transport (proxy/source), with retries as events. Their attributes are
// templates, config ids, statuses and problem codes, never a record id, a
// query value, a body or a header (not even X-Request-Id, which a client
// may choose: trace_id links a span to its audit event).

// startTrace starts the request's span, a child of the client's
// traceparent when it sent a valid one.
func (s *Server) startTrace(x *exchange) {
	if s.tracer.Off() && len(x.rc.Request.Header.Peek("traceparent")) == 0 {
		x.traceCtx, x.span = context.Background(), noSpan
		return
	}
	ctx := tracing.Extract(context.Background(), &x.rc.Request.Header)
	x.traceCtx, x.span = s.tracer.Start(ctx, "ferry request", trace.WithSpanKind(trace.SpanKindServer))
}

// noSpan is the span of a request with no trace at all.
var noSpan = trace.SpanFromContext(context.Background())

// runStage runs st, under a span of its own when it is traced and the
// request is being recorded.
func (s *Server) runStage(st stage, x *exchange) *verdict.Problem {
	if !st.traced || !x.span.IsRecording() {
		return st.run(s, x)
	}
	parent := x.traceCtx
	var sp trace.Span
	x.traceCtx, sp = s.tracer.Start(parent, st.name)
	defer func() {
		x.traceCtx = parent
		sp.End()
	}()
	p := st.run(s, x)
	if p != nil {
		sp.SetAttributes(attribute.String("ferry.problem_code", string(p.Code)))
		sp.SetStatus(codes.Error, string(p.Code))
	}
	return p
}

// requestContext is the context source work runs under: the request's
// deadline and the span of the stage running.
func (s *Server) requestContext(x *exchange) (context.Context, context.CancelFunc) {
	sp := trace.SpanFromContext(x.traceCtx)
	if !sp.SpanContext().IsValid() {
		return context.WithDeadline(s.baseCtx, x.deadline)
	}
	return context.WithDeadline(trace.ContextWithSpan(s.baseCtx, sp), x.deadline)
}

// callContext is requestContext with a span for one plugin call ("read",
// "search", "create", "update"), which the source calls the plugin asks
// for are children of. end ends both.
func (s *Server) callContext(x *exchange, op string) (ctx context.Context, end func()) {
	ctx, cancel := s.requestContext(x)
	if !x.span.IsRecording() {
		return ctx, cancel
	}
	ctx, sp := s.tracer.Start(ctx, "plugin "+op, trace.WithAttributes(attribute.String("ferry.connector", x.conn.kind)))
	return ctx, func() {
		sp.End()
		cancel()
	}
}

// endTrace names and ends the request's span, and returns its trace id
// for the audit event ("" when the request has no trace context).
func (s *Server) endTrace(x *exchange) string {
	sp := x.span
	if sp == nil { // a request fasthttp could not parse
		return ""
	}
	defer sp.End()
	sc := sp.SpanContext()
	if !sp.IsRecording() {
		if sc.IsValid() {
			return sc.TraceID().String()
		}
		return ""
	}
	method := tracing.Method(string(x.rc.Request.Header.Method()))
	sp.SetName(method + " " + x.route.template)
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", method),
		attribute.String("http.route", x.route.template),
		attribute.Int("http.response.status_code", x.status),
		attribute.String("ferry.region", s.cfg.Node.Region),
		attribute.Int("ferry.record_count", x.records),
	}
	if x.route.resource.Known() {
		attrs = append(attrs, attribute.String("ferry.resource", string(x.route.resource)))
	}
	if x.client != nil {
		attrs = append(attrs, attribute.String("ferry.tenant", x.client.tenant), attribute.String("ferry.client", x.client.id))
	}
	if x.conn != nil {
		attrs = append(attrs, attribute.String("ferry.connection", x.conn.cfg.ID), attribute.String("ferry.connector", x.conn.kind))
	}
	if x.code != "" {
		attrs = append(attrs, attribute.String("ferry.problem_code", string(x.code)))
	}
	sp.SetAttributes(attrs...)
	if x.status >= 500 {
		sp.SetStatus(codes.Error, strconv.Itoa(x.status))
	}
	return sc.TraceID().String()
}
