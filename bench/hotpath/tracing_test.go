package hotpath

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ferryhealth/ferry/bench/harness"
	"github.com/ferryhealth/ferry/proxy/tracing"
)

// BenchmarkTracing prices tracing on a read (W1, connector in-process, so
// the host's own work is what is measured), side by side in one run:
// tracing off; off, the client sending a traceparent (passed on to the
// source, written to the audit event, no span recorded); and on, every
// request sampled, spans batched to an exporter that drops them (the SDK's
// whole cost but the network).
func BenchmarkTracing(b *testing.B) {
	fix, err := fixture()
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()),
		sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
	for _, mode := range []struct {
		name        string
		tracer      *tracing.Tracer
		traceparent bool
	}{
		{"off", nil, false},
		{"off+traceparent", nil, true},
		{"on", tracing.FromProvider(tp), true},
	} {
		g := serveTraced(b, fix, testConfig(b, "http://"+fix.Addr()+harness.FHIRPrefix), false, mode.tracer)
		b.Run(mode.name, func(b *testing.B) {
			req := g.request("/v1/c0/patients/p-1")
			if mode.traceparent {
				req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			}
			g.loop(b, req)
		})
	}
}
