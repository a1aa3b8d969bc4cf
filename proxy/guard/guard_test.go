package guard

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sony/gobreaker/v2"

	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/unified"
)

func TestOutcomeEffect(t *testing.T) {
	answered := func(status int) LastCall { return LastCall{Calls: 1, Status: status} }
	failed := func(f Fault) LastCall { return LastCall{Calls: 1, Fault: f} }
	for _, c := range []struct {
		name string
		o    Outcome
		want effect
	}{
		{"served", Outcome{Source: answered(200)}, success},
		{"served, no source call", Outcome{}, success},
		{"a 5xx relayed or tolerated", Outcome{Source: answered(502)}, failure},
		{"cancelled", Outcome{Source: failed(FaultCanceled), Code: unified.CodeSourceUnavailable}, excluded},
		{"Ferry's own pool", Outcome{Source: failed(FaultPool), Code: unified.CodeSourceUnavailable}, excluded},
		{"refused by the guard", Outcome{Code: unified.CodeSourceUnavailable, Refused: true}, excluded},
		{"plugin failed because the source did", Outcome{Source: failed(FaultConnect), Code: unified.CodeConnectorError}, failure},
		{"plugin failed on a source 5xx", Outcome{Source: answered(503), Code: unified.CodeConnectorUnavailable}, failure},
		{"plugin failed alone", Outcome{Source: answered(200), Code: unified.CodeConnectorError}, excluded},
		{"source unavailable", Outcome{Source: failed(FaultConnect), Code: unified.CodeSourceUnavailable}, failure},
		{"timeout", Outcome{Source: failed(FaultTimeout), Code: unified.CodeUpstreamTimeout}, failure},
		{"timeout the client shortened", Outcome{Source: failed(FaultTimeout), Code: unified.CodeUpstreamTimeout, Shortened: true}, excluded},
		{"source refused Ferry's request (4xx)", Outcome{Source: answered(404), Code: unified.CodeUpstreamError}, success},
		{"source answered what Ferry will not take", Outcome{Source: failed(FaultAnswer), Code: unified.CodeUpstreamError}, failure},
		{"source rate limited", Outcome{Source: answered(429), Code: unified.CodeSourceRateLimited}, excluded},
		{"credentials", Outcome{Code: unified.CodeCredentialsUnavailable}, excluded},
		{"internal", Outcome{Code: unified.CodeInternal}, excluded},
		{"audit unavailable", Outcome{Code: unified.CodeAuditUnavailable}, excluded},
		{"the client's own mistake", Outcome{Code: unified.CodeInvalidParameter}, success},
	} {
		if got := c.o.effect(); got != c.want {
			t.Errorf("%s: effect %d, want %d", c.name, got, c.want)
		}
	}
}

func TestOutcomePluginFault(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Outcome
		want bool
	}{
		{"timed out without a source call", Outcome{Code: unified.CodeUpstreamTimeout}, true},
		{"timed out after the source answered", Outcome{Source: LastCall{Calls: 1, Status: 200}, Code: unified.CodeUpstreamTimeout}, true},
		{"timed out waiting for the source", Outcome{Source: LastCall{Calls: 1, Fault: FaultTimeout}, Code: unified.CodeUpstreamTimeout}, false},
		{"another failure", Outcome{Code: unified.CodeConnectorError}, false},
		{"served", Outcome{}, false},
	} {
		if got := c.o.pluginFault(); got != c.want {
			t.Errorf("%s: pluginFault %v, want %v", c.name, got, c.want)
		}
	}
}

func testConn(limits config.ConnectionLimits, breaker config.Breaker) *config.Connection {
	return &config.Connection{ID: "c", Timeout: config.Duration(10 * time.Second), Limits: limits, Breaker: breaker}
}

// TestHoldAndBreaker: a source's Retry-After holds the connection for as
// long as it said (clamped), with the code its status calls for; an open
// breaker says when it will let a probe through.
func TestHoldAndBreaker(t *testing.T) {
	clk := clock.NewManual(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	m := NewMetrics()
	g := New(testConn(config.ConnectionLimits{MaxRetryAfter: config.Duration(5 * time.Second)},
		config.Breaker{ConsecutiveFailures: 2, OpenFor: config.Duration(30 * time.Second)}), m, clk)
	far := clk.Now().Add(time.Hour)

	if d := g.Throttled(429, time.Minute); d != 5*time.Second {
		t.Fatalf("hold %v, want the 5s max_retry_after", d)
	}
	_, rj := g.Admit(far)
	if rj == nil || rj.Code != unified.CodeSourceRateLimited || rj.Reason != ReasonRetryAfter || rj.RetryAfter != 5*time.Second {
		t.Fatalf("admitted during a hold: %+v", rj)
	}
	c := g.Call(far)
	if rj := c.Attempt(); rj == nil || rj.Reason != ReasonRetryAfter {
		t.Fatalf("a source call went out during a hold: %+v", rj)
	}
	clk.Advance(5 * time.Second)

	for range 2 {
		tk, rj := g.Admit(far)
		if rj != nil {
			t.Fatalf("refused after the hold: %+v", rj)
		}
		tk.Settle(Outcome{Source: LastCall{Calls: 1, Fault: FaultConnect}, Code: unified.CodeSourceUnavailable})
	}
	if g.State() != gobreaker.StateOpen {
		t.Fatalf("breaker %v after two failures", g.State())
	}
	clk.Advance(10 * time.Second)
	_, rj = g.Admit(far)
	if rj == nil || rj.Code != unified.CodeSourceUnavailable || rj.Reason != ReasonBreaker || rj.RetryAfter != 20*time.Second {
		t.Fatalf("open breaker: %+v", rj)
	}
	if n := counterValue(m.rejections.WithLabelValues("c", ReasonBreaker)); n != 1 {
		t.Errorf("rejections{reason=breaker} = %v", n)
	}
}

// TestTripAnswersConnectorUnavailable: a crash-looping plugin opens the
// breaker at once, and clients are told the connector, not the source, is
// down.
func TestTripAnswersConnectorUnavailable(t *testing.T) {
	g := New(testConn(config.ConnectionLimits{}, config.Breaker{}), NewMetrics(), nil)
	g.Trip()
	_, rj := g.Admit(time.Now().Add(time.Hour))
	if g.State() != gobreaker.StateOpen || rj == nil || rj.Code != unified.CodeConnectorUnavailable {
		t.Fatalf("after Trip: %v, %+v", g.State(), rj)
	}
}

func TestBulkheadRefusesAtItsLimit(t *testing.T) {
	g := New(testConn(config.ConnectionLimits{MaxConcurrent: 1}, config.Breaker{}), NewMetrics(), nil)
	deadline := time.Now().Add(time.Hour)
	tk, rj := g.Admit(deadline)
	if rj != nil || !tk.Held() {
		t.Fatalf("first request refused: %+v", rj)
	}
	if _, rj := g.Admit(deadline); rj == nil || rj.Reason != ReasonBulkhead || rj.Code != unified.CodeSourceRateLimited {
		t.Fatalf("second request: %+v", rj)
	}
	tk.Settle(Outcome{})
	if tk.Held() {
		t.Fatal("a settled ticket is still held")
	}
	if _, rj := g.Admit(deadline); rj != nil {
		t.Fatalf("refused once the slot was free: %+v", rj)
	}
}

// TestRetryStopsAtItsLimits: attempts, the deadline and the budget each
// end the retries of a call.
func TestRetryStopsAtItsLimits(t *testing.T) {
	ctx := context.Background()
	g := New(testConn(config.ConnectionLimits{MaxAttempts: 3}, config.Breaker{}), NewMetrics(), nil)
	c := g.Call(time.Now().Add(time.Hour))
	n := 0
	for c.Attempt() == nil {
		n++
		if !c.Retry(ctx) {
			break
		}
	}
	if n != 3 {
		t.Errorf("%d attempts, want max_attempts 3", n)
	}
	c = g.Call(time.Now().Add(time.Millisecond))
	if c.Attempt() != nil || c.Retry(ctx) {
		t.Error("retried past the deadline")
	}
	g.budget.tokens = 0
	c = g.Call(time.Now().Add(time.Hour))
	if c.Attempt() != nil || c.Retry(ctx) {
		t.Error("retried with an empty budget")
	}
}

func TestPacerSchedule(t *testing.T) {
	p := newPacer(20, clock.System) // every 50 ms
	start := time.Now()
	far := start.Add(time.Hour)
	for range 4 {
		if _, ok := p.wait(far); !ok {
			t.Fatal("refused with an hour to go")
		}
	}
	if el := time.Since(start); el < 140*time.Millisecond || el > 400*time.Millisecond {
		t.Errorf("4 turns at 20/s took %v, want about 150ms", el)
	}
	wait, ok := p.wait(time.Now().Add(10 * time.Millisecond))
	if ok || wait <= 0 || wait > 60*time.Millisecond {
		t.Errorf("a turn 50ms away with 10ms to go: ok=%v wait=%v", ok, wait)
	}
}

// BenchmarkAdmitSettle prices what every request pays its connection: the
// hold check, the breaker, the bulkhead, and the outcome (the design's
// budget for gobreaker and ratelimit is under 0.2 µs).
func BenchmarkAdmitSettle(b *testing.B) {
	cn := &config.Connection{ID: "bench", Timeout: config.Duration(10 * time.Second)}
	g := New(cn, NewMetrics(), nil)
	deadline := time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		tk, rj := g.Admit(deadline)
		if rj != nil {
			b.Fatal(rj)
		}
		tk.Settle(Outcome{})
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
