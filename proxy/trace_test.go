package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferryhealth/ferry/proxy/tracing"
	"github.com/ferryhealth/ferry/unified"
)

const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

// TestTraces: a request with the client's traceparent gives one trace under
// it: the request span (named by the route template), the traced stages,
// the plugin call and the source call, which carries the same trace id to
// the source. The audit event names the trace. No span holds the record
// id, the query value or anything else from the request or the answer.
func TestTraces(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	var mu sync.Mutex
	var atSource []string
	e := startWith(t, nil, envOptions{tracer: tracing.FromProvider(tp), wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			atSource = append(atSource, r.Header.Get("traceparent"))
			if ts := r.Header.Get("tracestate"); ts != "" {
				t.Errorf("the source got tracestate %q", ts)
			}
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}})
	id := e.sb.PatientIDs()[0]
	var p unified.Patient
	if r := e.do(t, "GET", "/v1/demo/patients/"+id, keyDemo, nil); r.status != 200 || json.Unmarshal(r.body, &p) != nil {
		t.Fatalf("read: %d %s", r.status, r.body)
	}
	if len(p.Names) == 0 || p.Names[0].Family == "" {
		t.Fatalf("the sandbox patient has no family name: %s", id)
	}
	family := p.Names[0].Family
	rec.Reset()
	mu.Lock()
	atSource = nil
	mu.Unlock()

	tp0 := "00-" + clientTrace + "-00f067aa0ba902b7-01"
	for _, path := range []string{"/v1/demo/patients/" + id, "/v1/demo/patients?name=" + url.QueryEscape(family)} {
		if r := e.do(t, "GET", path, keyDemo, nil, "traceparent", tp0, "baggage", "patient="+url.QueryEscape(family),
			"tracestate", "vendor="+strings.ToLower(family), "X-Request-Id", "req."+family); r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	// A request without a sampled parent is not recorded (ratio 0 here),
	// but its trace id still reaches the source and the audit event.
	unsampled := "00-" + strings.Repeat("ab", 16) + "-00f067aa0ba902b7-00"
	if r := e.do(t, "GET", "/v1/demo/patients/"+id, keyDemo, nil, "traceparent", unsampled); r.status != 200 {
		t.Fatalf("unsampled: %d", r.status)
	}

	spans := rec.Ended()
	names := map[string]int{}
	for _, s := range spans {
		if s.SpanContext().TraceID().String() != clientTrace {
			t.Errorf("span %q in trace %s, not the client's", s.Name(), s.SpanContext().TraceID())
		}
		names[s.Name()]++
	}
	for _, want := range []string{"GET /v1/{connection_id}/{resource}/{id}", "GET /v1/{connection_id}/{resource}",
		"authenticate", "admit_audit", "admit_connection", "dispatch", "plugin read", "plugin search", "source GET"} {
		if names[want] == 0 {
			t.Errorf("no span %q; spans: %v", want, names)
		}
	}
	if names["rate_limit"] != 0 {
		t.Error("an untraced stage has a span")
	}
	// The tree: request → dispatch → plugin → source.
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	for _, s := range spans {
		if s.Name() != "source GET" {
			continue
		}
		var chain []string
		for cur, ok := s, true; ok; cur, ok = byID[cur.Parent().SpanID()] {
			chain = append(chain, cur.Name())
		}
		if len(chain) != 4 || chain[1] != "plugin read" && chain[1] != "plugin search" || chain[2] != "dispatch" ||
			!strings.HasPrefix(chain[3], "GET /v1/") {
			t.Errorf("source span's ancestry %v", chain)
		}
	}
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "GET /v1/") && s.Parent().SpanID().String() != "00f067aa0ba902b7" {
			t.Errorf("request span's parent %s, want the client's span", s.Parent().SpanID())
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if len(atSource) != 3 {
		t.Fatalf("%d source calls: %v", len(atSource), atSource)
	}
	for i, h := range atSource[:2] {
		if !strings.HasPrefix(h, "00-"+clientTrace+"-") || h == tp0 || !strings.HasSuffix(h, "-01") {
			t.Errorf("source call %d: traceparent %q, want the client's trace under a span of Ferry's", i, h)
		}
	}
	if !strings.HasPrefix(atSource[2], "00-"+strings.Repeat("ab", 16)+"-") || !strings.HasSuffix(atSource[2], "-00") {
		t.Errorf("unsampled source call: traceparent %q", atSource[2])
	}
	evs := e.audit.events(t)
	if n := len(evs); n < 3 {
		t.Fatalf("%d audit events", n)
	}
	for i, ev := range evs[len(evs)-3:] {
		want := clientTrace
		if i == 2 {
			want = strings.Repeat("ab", 16)
		}
		if ev["trace_id"] != want {
			t.Errorf("audit event %d: trace_id %v, want %s", i, ev["trace_id"], want)
		}
	}

	// No PHI in any span: names, attributes, events, status.
	canaries := []string{id, family, strings.ToLower(family), url.QueryEscape(family)}
	for _, s := range spans {
		dump := fmt.Sprint(s.Name(), s.Attributes(), s.Events(), s.Status(), s.Resource().Attributes(),
			s.SpanContext().TraceState().String(), s.Links())
		for _, c := range canaries {
			if strings.Contains(dump, c) {
				t.Errorf("span %q holds %q: %s", s.Name(), c, dump)
			}
		}
	}
	// And what the request span says.
	for _, s := range spans {
		if s.Name() != "GET /v1/{connection_id}/{resource}/{id}" {
			continue
		}
		got := map[string]string{}
		for _, kv := range s.Attributes() {
			got[string(kv.Key)] = kv.Value.Emit()
		}
		if got["http.route"] != "/v1/{connection_id}/{resource}/{id}" || got["http.response.status_code"] != "200" ||
			got["ferry.tenant"] != "demo" || got["ferry.connection"] != "demo" || got["ferry.connector"] != "fhir" ||
			got["ferry.record_count"] != "1" {
			t.Errorf("request span attributes %v", got)
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		allowed := []string{"ferry.client", "ferry.connection", "ferry.connector", "ferry.record_count", "ferry.region",
			"ferry.resource", "ferry.tenant", "http.request.method", "http.response.status_code", "http.route"}
		if !slices.Equal(keys, allowed) {
			t.Errorf("request span attribute keys %v, want exactly %v", keys, allowed)
		}
	}
}

// TestTraceOfAFailure: a source that refuses connections gives a source
// span marked as an error with its code (never the error's text), retry
// events, and a request span carrying the problem code with an error
// status.
func TestTraceOfAFailure(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String() + "/fhir/R4"
	dead.Close() // nothing listens there now: every dial is refused
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	e := startWith(t, func(c map[string]any) {
		c["connections"].([]any)[0].(map[string]any)["base_url"] = deadURL
	}, envOptions{tracer: tracing.FromProvider(tp)})
	r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil)
	if r.status < 500 {
		t.Fatalf("a dead source answered %d %s", r.status, r.body)
	}
	var p unified.Problem
	_ = json.Unmarshal(r.body, &p)
	var source, request sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.Name() == "source GET":
			source = s
		case strings.HasPrefix(s.Name(), "GET /v1/"):
			request = s
		}
	}
	if source == nil || request == nil {
		t.Fatalf("spans: source %v, request %v", source, request)
	}
	if source.Status().Code != codes.Error || source.Status().Description == "" ||
		strings.Contains(source.Status().Description, "127.0.0.1") || strings.Contains(source.Status().Description, "refused") {
		t.Errorf("source span status %+v: want an error naming a code only", source.Status())
	}
	retries := 0
	for _, ev := range source.Events() {
		if ev.Name == "retry" {
			retries++
		}
	}
	if retries == 0 {
		t.Errorf("no retry event on the source span: %+v", source.Events())
	}
	got := map[string]string{}
	for _, kv := range request.Attributes() {
		got[string(kv.Key)] = kv.Value.Emit()
	}
	if got["ferry.problem_code"] != string(p.Code) || request.Status().Code != codes.Error {
		t.Errorf("request span: problem %q status %+v, want %q and an error", got["ferry.problem_code"], request.Status(), p.Code)
	}
}
