package proxy

// The host's own limits (pacing, bulkhead, the client's inbound limit, the
// per-request deadline, retries and their budget) against the controllable
// source of faults_test.go on 127.0.0.1. The guard's and the header
// parsers' own tests are in proxy/guard and proxy/source.
//
// Alone: go test -run 'Test(Pacing|Bulkhead|ClientRate|Deadline|Retr|SourceRate|Breaker)' -v ./proxy/

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/unified"
)

// limitsGateway serves connection "demo" on a fault source in mode, with
// the given limits and breaker (nil: defaults).
func limitsGateway(t *testing.T, mode string, limits, breaker map[string]any, extra ...func(map[string]any)) (*fenv, *faultSource) {
	t.Helper()
	src := newFaultSource(t)
	src.set(mode)
	cfg := testConfig(src.url(), func(c map[string]any) {
		cn := connCfg(c, 0)
		cn["timeout"] = "1s"
		if limits != nil {
			cn["limits"] = limits
		}
		if breaker != nil {
			cn["breaker"] = breaker
		}
		for _, f := range extra {
			f(c)
		}
	})
	return startGateway(t, cfg, nil), src
}

// parallel sends n reads at once and returns the replies.
func parallel(t *testing.T, e *fenv, n int, deadline time.Duration, hdr ...string) []reply {
	out := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = e.get(t, "/v1/demo/patients/p1", deadline, hdr...)
		}()
	}
	wg.Wait()
	return out
}

func TestPacingNeverWaitsPastTheDeadline(t *testing.T) {
	// 5 calls a second: turns at 0, 200, 400, 600 … ms. With a 500 ms
	// deadline three calls get a turn and the rest are refused at once.
	e, src := limitsGateway(t, "ok", map[string]any{"rate_per_second": 5}, nil)
	rs := parallel(t, e, 6, 500*time.Millisecond, timeoutHeader, "500ms")
	ok, refused := 0, 0
	for _, r := range rs {
		switch {
		case r.status == 200:
			ok++
		case r.status == 503 && r.code == unified.CodeSourceRateLimited:
			refused++
			if r.served > 100*time.Millisecond {
				t.Errorf("a refused call waited %v", r.served)
			}
			if r.retryAfter == "" {
				t.Error("no Retry-After")
			}
		default:
			t.Errorf("got %d %s", r.status, r.code)
		}
		if r.overshoot > overshootLimit {
			t.Errorf("answered %v after the deadline", r.overshoot)
		}
	}
	if ok != 3 || refused != 3 {
		t.Errorf("%d served, %d refused; want 3 and 3", ok, refused)
	}
	if n := src.calls.Load(); n != 3 {
		t.Errorf("source called %d times", n)
	}
	if n := metricLabels(t, e.srv, "ferry_connection_rejections_total", "connection", "demo", "reason", guard.ReasonRate); n != 3 {
		t.Errorf("rejections{reason=rate} = %v", n)
	}
}

func TestBulkhead(t *testing.T) {
	t.Run("non-blocking", func(t *testing.T) {
		e, _ := limitsGateway(t, "slow_300ms", map[string]any{"max_concurrent": 2}, nil)
		rs := parallel(t, e, 5, time.Second)
		ok, refused := 0, 0
		for _, r := range rs {
			switch {
			case r.status == 200:
				ok++
			case r.status == 503 && r.code == unified.CodeSourceRateLimited:
				refused++
				if r.served > 100*time.Millisecond {
					t.Errorf("a refused request waited %v", r.served)
				}
			default:
				t.Errorf("got %d %s", r.status, r.code)
			}
		}
		if ok != 2 || refused != 3 {
			t.Errorf("%d served, %d refused; want 2 and 3", ok, refused)
		}
		if n := metricLabels(t, e.srv, "ferry_connection_rejections_total", "connection", "demo", "reason", guard.ReasonBulkhead); n != 3 {
			t.Errorf("rejections{reason=bulkhead} = %v", n)
		}
		if n := metricValue(t, e.srv, "ferry_connection_in_flight", "demo"); n != 0 {
			t.Errorf("in flight after the run: %v", n)
		}
	})
	t.Run("bounded wait", func(t *testing.T) {
		e, _ := limitsGateway(t, "slow_300ms", map[string]any{"max_concurrent": 2, "queue_timeout": "2s", "max_timeout": "2s"}, nil)
		for _, r := range parallel(t, e, 5, 2*time.Second, timeoutHeader, "2s") {
			if r.status != 200 {
				t.Errorf("got %d %s; every request fits in its deadline", r.status, r.code)
			}
		}
		// A queue wait never outlasts the deadline.
		rs := parallel(t, e, 6, 400*time.Millisecond, timeoutHeader, "400ms")
		for _, r := range rs {
			if r.overshoot > overshootLimit {
				t.Errorf("answered %v after the deadline (%d %s)", r.overshoot, r.status, r.code)
			}
		}
	})
}

func TestClientRateLimit(t *testing.T) {
	e, src := limitsGateway(t, "ok", nil, nil, func(c map[string]any) {
		c["clients"].([]any)[0].(map[string]any)["rate_limit"] = map[string]any{"requests_per_second": 2, "burst": 2}
	})
	var got []int
	for range 3 {
		r := e.get(t, "/v1/demo/patients/p1", time.Second)
		got = append(got, r.status)
		if r.status == 429 {
			expect(t, r, 429, unified.CodeRateLimited)
			if r.served > 50*time.Millisecond {
				t.Errorf("429 took %v", r.served)
			}
		}
	}
	if got[0] != 200 || got[1] != 200 || got[2] != 429 {
		t.Fatalf("statuses %v, want 200 200 429", got)
	}
	if n := src.calls.Load(); n != 2 {
		t.Errorf("source called %d times", n)
	}
	mfs, _ := e.srv.metrics.reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "ferry_client_rate_limited_total" && mf.GetMetric()[0].GetCounter().GetValue() == 1 {
			found = true
		}
	}
	if !found {
		t.Error("ferry_client_rate_limited_total not 1")
	}
	time.Sleep(600 * time.Millisecond)
	if r := e.get(t, "/v1/demo/patients/p1", time.Second); r.status != 200 {
		t.Errorf("after a token came back: %d", r.status)
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(10, 1)
	now := time.Unix(1000, 0)
	if ok, _ := b.take(now); !ok {
		t.Fatal("first token")
	}
	ok, wait := b.take(now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("second at once: %v %v", ok, wait)
	}
	if ok, _ := b.take(now.Add(100 * time.Millisecond)); !ok {
		t.Fatal("token after 100ms")
	}
}

func TestDeadlineHeader(t *testing.T) {
	e, _ := limitsGateway(t, "slow_300ms", map[string]any{"max_timeout": "500ms"}, nil, func(c map[string]any) {
		connCfg(c, 0)["timeout"] = "200ms"
	})
	// The connection's own deadline.
	r := e.get(t, "/v1/demo/patients/p1", 200*time.Millisecond)
	expect(t, r, 504, unified.CodeUpstreamTimeout)
	if r.overshoot > overshootLimit {
		t.Errorf("answered %v after the deadline", r.overshoot)
	}
	// Longer, within the cap: served.
	if r := e.get(t, "/v1/demo/patients/p1", 450*time.Millisecond, timeoutHeader, "450ms"); r.status != 200 {
		t.Errorf("X-Ferry-Timeout 450ms: %d %s", r.status, r.code)
	}
	// Beyond the cap: clamped to max_timeout (500ms), still served.
	if r := e.get(t, "/v1/demo/patients/p1", 500*time.Millisecond, timeoutHeader, "1h"); r.status != 200 || r.overshoot > overshootLimit {
		t.Errorf("X-Ferry-Timeout 1h: %d %s in %v", r.status, r.code, r.served)
	}
	for _, bad := range []string{"soon", "-1s", "0", "10"} {
		r := e.get(t, "/v1/demo/patients/p1", time.Second, timeoutHeader, bad)
		if r.status != 400 || r.code != unified.CodeInvalidParameter {
			t.Errorf("X-Ferry-Timeout %q: %d %s", bad, r.status, r.code)
		}
	}
}

func TestShortenedDeadlinesDoNotOpenTheBreaker(t *testing.T) {
	e, _ := limitsGateway(t, "slow_300ms", nil, map[string]any{"consecutive_failures": 2})
	for range 4 {
		r := e.get(t, "/v1/demo/patients/p1", 100*time.Millisecond, timeoutHeader, "100ms")
		expect(t, r, 504, unified.CodeUpstreamTimeout)
	}
	if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 0 {
		t.Fatalf("client-shortened timeouts moved the breaker to %v", st)
	}
	// The connection's own deadline passing does count.
	e2, _ := limitsGateway(t, "latency", nil, map[string]any{"consecutive_failures": 2}, func(c map[string]any) {
		connCfg(c, 0)["timeout"] = "100ms"
	})
	for range 2 {
		e2.get(t, "/v1/demo/patients/p1", 100*time.Millisecond)
	}
	if st := e2.srv.tab.Load().connections["demo"].guard.State(); st != 2 {
		t.Fatalf("timeouts at the connection's deadline left the breaker %v", st)
	}
}

func TestBreakerIgnores4xxAndProbes(t *testing.T) {
	e, src := limitsGateway(t, "not_found", nil, map[string]any{"consecutive_failures": 3, "open_for": "300ms"})
	for range 6 {
		expect(t, e.get(t, "/v1/demo/patients/p1", time.Second), 404, unified.CodeNotFound)
	}
	if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 0 {
		t.Fatalf("4xx answers moved the breaker to %v", st)
	}
	src.set("error_500")
	for range 3 {
		e.get(t, "/v1/demo/patients/p1", time.Second)
	}
	if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 2 {
		t.Fatalf("breaker %v after 3 failures", st)
	}
	r := e.get(t, "/v1/demo/patients/p1", time.Second)
	expect(t, r, 503, unified.CodeSourceUnavailable)
	if r.retryAfter != "1" {
		t.Errorf("Retry-After %q for 300ms left", r.retryAfter)
	}
	// Half-open: one probe goes; it fails, and the breaker opens again.
	time.Sleep(350 * time.Millisecond)
	calls := src.calls.Load()
	expect(t, e.get(t, "/v1/demo/patients/p1", time.Second), 502, unified.CodeUpstreamError)
	expect(t, e.get(t, "/v1/demo/patients/p1", time.Second), 503, unified.CodeSourceUnavailable)
	if n := src.calls.Load() - calls; n != 1 {
		t.Errorf("%d calls while half-open, want the one probe", n)
	}
	// Healed: the next probe closes it.
	src.set("ok")
	time.Sleep(350 * time.Millisecond)
	if r := e.get(t, "/v1/demo/patients/p1", time.Second); r.status != 200 {
		t.Fatalf("probe: %d %s", r.status, r.code)
	}
	if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 0 {
		t.Fatalf("breaker %v after a good probe", st)
	}
	if n := metricLabels(t, e.srv, "ferry_connection_breaker_transitions_total", "connection", "demo", "state", "open"); n != 2 {
		t.Errorf("transitions to open: %v", n)
	}
	if n := metricLabels(t, e.srv, "ferry_connection_rejections_total", "connection", "demo", "reason", guard.ReasonBreaker); n < 2 {
		t.Errorf("rejections{reason=breaker} = %v", n)
	}
}

func TestRetriesOnlyIdempotentReadsAfterConnectionErrors(t *testing.T) {
	passthrough := func(c map[string]any) {
		c["clients"].([]any)[0].(map[string]any)["scopes"] = []string{"read", "passthrough"}
	}
	e, src := limitsGateway(t, "reset_once", nil, nil, passthrough)
	if r := e.get(t, "/v1/demo/patients/p1", time.Second); r.status != 200 {
		t.Fatalf("a read after one reset: %d %s", r.status, r.code)
	}
	if n := src.calls.Load(); n != 2 {
		t.Errorf("source called %d times, want 2 (one retry)", n)
	}
	if n := metricValue(t, e.srv, "ferry_upstream_retries_total", "demo"); n != 1 {
		t.Errorf("retries = %v", n)
	}
	// A POST is never retried: the source may have acted on it.
	src.set("reset")
	req, _ := http.NewRequest("POST", e.base+"/v1/demo/passthrough/Patient", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+keyDemo)
	before := src.calls.Load()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || src.calls.Load()-before != 1 {
		t.Errorf("POST after a reset: %d, %d calls", resp.StatusCode, src.calls.Load()-before)
	}
}

func TestRetryBudget(t *testing.T) {
	e, src := limitsGateway(t, "reset", nil, map[string]any{"consecutive_failures": 1000, "failure_ratio": 1, "min_requests": 1000})
	const n = 30
	for range n {
		expect(t, e.get(t, "/v1/demo/patients/p1", time.Second), 503, unified.CodeSourceUnavailable)
	}
	retries := metricValue(t, e.srv, "ferry_upstream_retries_total", "demo")
	// The reserve (10), plus a tenth of a retry per call.
	if retries < guard.RetryReserve || retries > guard.RetryReserve+n*0.1+1 {
		t.Errorf("%v retries for %d calls", retries, n)
	}
	if calls := src.calls.Load(); float64(calls) != n+retries {
		t.Errorf("source called %d times for %d requests and %v retries", calls, n, retries)
	}
}

func TestSourceRateLimitHeaders(t *testing.T) {
	e, _ := limitsGateway(t, "rate_headers", nil, nil)
	r := e.get(t, "/v1/demo/patients/p1", time.Second)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.code)
	}
	reset, _ := strconv.Atoi(r.header.Get("X-Source-RateLimit-Reset"))
	if r.header.Get("X-Source-RateLimit-Limit") != "100" || r.header.Get("X-Source-RateLimit-Remaining") != "42" || reset < 28 || reset > 30 {
		t.Fatalf("normalised headers: %v", r.header)
	}
}

// metricLabels reads a counter or gauge by two label pairs.
func metricLabels(t *testing.T, s *Server, name, k1, v1, k2, v2 string) float64 {
	t.Helper()
	mfs := scrapeMetrics(t, s)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got[k1] == v1 && got[k2] == v2 {
				if g := m.GetGauge(); g != nil {
					return g.GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
