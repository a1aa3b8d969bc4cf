// Package tracing records OpenTelemetry spans of API requests and exports
// them over OTLP (docs/tracing.md). It wraps the OpenTelemetry Go SDK: the
// exporters, batching and sampling are the SDK's; what is Ferry's is the
// configuration, the fasthttp header carrier and the rule on attributes:
// route templates, tenant and connection ids, statuses and problem codes,
// never record ids, query values, bodies or request headers (the same
// rule as the audit event).
//
// Only the W3C traceparent is read from clients and passed on to sources:
// a trace id, a span id and a flag, all hex. tracestate and baggage are
// neither read nor sent: they are free text a client could fill with
// anything, PHI included, and the SDK would copy tracestate into every
// exported span.
package tracing

import (
	"context"
	"crypto/tls"
	"errors"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/credentials"

	"github.com/ferryhealth/ferry/proxy/config"
)

// Name is the instrumentation scope of every span Ferry records.
const Name = "github.com/ferryhealth/ferry"

// propagator reads and writes the W3C trace context; the carrier below
// hides tracestate from it, both ways.
var propagator = propagation.TraceContext{}

// exportFailures counts the SDK's export errors (the exporter's own
// errors carry no request data); see ExportFailures.
var exportFailures atomic.Uint64

func init() {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) { exportFailures.Add(1) }))
}

// ExportFailures is how many times the SDK reported an error, mostly a
// failed export (spans dropped): ferry_trace_export_errors_total.
func ExportFailures() uint64 { return exportFailures.Load() }

// Tracer starts spans. The zero of it is not usable; Off is the tracer
// that records nothing (and still passes a client's trace context on).
type Tracer struct {
	tracer   trace.Tracer
	shutdown func(context.Context) error
	off      bool
}

// Off says the tracer records nothing: a request without a trace context
// of its own then costs no tracing work at all.
func (t *Tracer) Off() bool { return t.off }

// Off records nothing: spans carry the client's trace context, if any,
// unsampled, so it still reaches the sources and the audit event.
func Off() *Tracer {
	return &Tracer{tracer: noop.NewTracerProvider().Tracer(Name), shutdown: func(context.Context) error { return nil }, off: true}
}

// FromProvider records with tp, which its caller shuts down: for tests
// and benchmarks that keep spans in memory.
func FromProvider(tp trace.TracerProvider) *Tracer {
	return &Tracer{tracer: tp.Tracer(Name), shutdown: func(context.Context) error { return nil }}
}

// Service describes this process in every exported span's resource.
type Service struct {
	Version string
	Region  string
}

// New builds the tracer cfg describes; nil cfg is Off. The exporter
// connects lazily: an unreachable receiver costs dropped spans (counted),
// never a failed request.
func New(ctx context.Context, cfg *config.Tracing, svc Service) (*Tracer, error) {
	if cfg == nil {
		return Off(), nil
	}
	exp, err := exporter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "ferry"),
		attribute.String("service.version", svc.Version),
		attribute.String("ferry.region", svc.Region),
	)
	ratio := config.DefaultTraceSampleRatio
	if cfg.SampleRatio != nil {
		ratio = *cfg.SampleRatio
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	)
	return &Tracer{tracer: tp.Tracer(Name), shutdown: tp.Shutdown}, nil
}

func exporter(ctx context.Context, cfg *config.Tracing) (*otlptrace.Exporter, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, errors.New("tracing: endpoint is not a URL")
	}
	plain := u.Scheme == "http"
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.Protocol == config.TracingGRPC {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(u.Host)}
		if plain {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsConf)))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithURLPath("/v1/traces")}
	if plain {
		opts = append(opts, otlptracehttp.WithInsecure())
	} else {
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsConf))
	}
	return otlptracehttp.New(ctx, opts...)
}

// Shutdown exports what is buffered (bounded by ctx) and stops.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Start starts a span under ctx's.
func (t *Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, name, opts...)
}

// Extract returns ctx carrying the trace context of a request's
// traceparent header, when valid (tracestate is ignored).
func Extract(ctx context.Context, h *fasthttp.RequestHeader) context.Context {
	return propagator.Extract(ctx, requestCarrier{h})
}

// Inject sets traceparent on an outgoing request from ctx's span,
// replacing any the request had; it removes traceparent and tracestate a
// connector set, and sets none when ctx has no valid span context.
func Inject(ctx context.Context, h *fasthttp.RequestHeader) {
	h.Del("traceparent")
	h.Del("tracestate")
	propagator.Inject(ctx, requestCarrier{h})
}

// requestCarrier adapts fasthttp's request header to the propagator, for
// traceparent alone.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (c requestCarrier) Get(key string) string {
	if key != traceparent {
		return ""
	}
	return string(c.h.Peek(key))
}

func (c requestCarrier) Set(key, value string) {
	if key == traceparent {
		c.h.Set(key, value)
	}
}

func (c requestCarrier) Keys() []string { return []string{traceparent} }

const traceparent = "traceparent"

// Method is an HTTP method for a span's name and http.request.method:
// itself when it is one the API or a source call uses, else "_OTHER" (as
// OpenTelemetry's HTTP conventions say), since a method is any token a
// client or a connector sends.
func Method(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "_OTHER"
}

// StartChild starts a span under ctx's, with the tracer of ctx's span: where no
// Tracer is at hand (a source call), the span belongs to the request's
// provider, or to none.
func StartChild(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(Name).Start(ctx, name, opts...)
}

// Metrics appends ferry_trace_export_errors_total to /metrics
// (proxy.MetricsAppender).
type Metrics struct{}

// AppendMetrics appends the family in the Prometheus text format.
func (Metrics) AppendMetrics(b []byte) []byte {
	b = append(b, "# HELP ferry_trace_export_errors_total Errors the OpenTelemetry SDK reported, mostly failed span exports (spans dropped).\n"...)
	b = append(b, "# TYPE ferry_trace_export_errors_total counter\nferry_trace_export_errors_total "...)
	b = strconv.AppendUint(b, ExportFailures(), 10)
	return append(b, '\n')
}
