package tracing

import (
	"context"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferryhealth/ferry/proxy/config"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestExtractAndInject(t *testing.T) {
	var in fasthttp.RequestHeader
	in.Set("traceparent", parent)
	in.Set("tracestate", "vendor=abc")
	in.Set("baggage", "patient=Jane%20Doe")
	ctx := Extract(context.Background(), &in)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() {
		t.Fatalf("extracted %v", sc)
	}
	// Off still carries the client's context to the source, unsampled
	// spans and all.
	ctx, sp := Off().Start(ctx, "x")
	defer sp.End()
	var out fasthttp.RequestHeader
	out.Set("traceparent", "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01") // the connector's: replaced
	Inject(ctx, &out)
	if got := string(out.Peek("traceparent")); got != parent {
		t.Fatalf("traceparent %q, want %q", got, parent)
	}
	if sc.TraceState().Len() != 0 {
		t.Fatalf("tracestate read: %s", sc.TraceState())
	}
	if len(out.Peek("tracestate")) != 0 || len(out.Peek("baggage")) != 0 {
		t.Fatalf("tracestate %q or baggage %q passed on", out.Peek("tracestate"), out.Peek("baggage"))
	}
	// No context: the connector's header is removed, none is invented.
	var bare fasthttp.RequestHeader
	bare.Set("traceparent", parent)
	bare.Set("tracestate", "connector=set")
	Inject(context.Background(), &bare)
	if len(bare.Peek("traceparent")) != 0 || len(bare.Peek("tracestate")) != 0 {
		t.Fatalf("trace headers without a span: %q %q", bare.Peek("traceparent"), bare.Peek("tracestate"))
	}
}

func TestExtractRefusesMalformed(t *testing.T) {
	for _, v := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-" + strings.Repeat("z", 32) + "-00f067aa0ba902b7-01"} {
		var h fasthttp.RequestHeader
		h.Set("traceparent", v)
		if sc := trace.SpanContextFromContext(Extract(context.Background(), &h)); sc.IsValid() {
			t.Errorf("%q accepted: %v", v, sc)
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(parent, "vendor=abc")
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", strings.Repeat("k=v,", 40))
	f.Fuzz(func(t *testing.T, tp, ts string) {
		var h fasthttp.RequestHeader
		h.Set("traceparent", tp)
		h.Set("tracestate", ts)
		ctx := Extract(context.Background(), &h)
		var out fasthttp.RequestHeader
		Inject(ctx, &out)
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !strings.Contains(string(out.Peek("traceparent")), sc.TraceID().String()) {
			t.Fatalf("valid context %v not passed on: %q", sc, out.Peek("traceparent"))
		}
	})
}

func TestNew(t *testing.T) {
	tr, err := New(context.Background(), nil, Service{})
	if err != nil || tr == nil {
		t.Fatalf("nil config: %v", err)
	}
	ratio := 1.0
	for _, proto := range []string{config.TracingHTTP, config.TracingGRPC} {
		tr, err := New(context.Background(), &config.Tracing{Endpoint: "http://127.0.0.1:1", Protocol: proto, SampleRatio: &ratio}, Service{Version: "t"})
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		_, sp := tr.Start(context.Background(), "x")
		if !sp.IsRecording() || !sp.SpanContext().IsSampled() {
			t.Fatalf("%s: ratio 1 did not sample", proto)
		}
		sp.End()
		// Nothing listens there: shutdown gives up within its context
		// and the failure is counted, not fatal.
		ctx, cancel := context.WithTimeout(context.Background(), 2e9)
		_ = tr.Shutdown(ctx)
		cancel()
	}
	if !strings.Contains(string(Metrics{}.AppendMetrics(nil)), "ferry_trace_export_errors_total ") {
		t.Fatal("metrics family missing")
	}
}
