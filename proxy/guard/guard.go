package guard

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/unified"
)

// Guard protects one connection, and everything else from it.
type Guard struct {
	connID  string
	limits  config.ConnectionLimits // with defaults
	breaker config.Breaker          // with defaults
	m       *Metrics
	clk     clock.Clock

	cb *gobreaker.TwoStepCircuitBreaker[struct{}]
	// openedAt is when the breaker last opened (UnixNano), for Retry-After.
	openedAt atomic.Int64
	// pluginFault is set when the failures that opened the breaker were the
	// plugin's (crash loop, crashes, hangs) rather than the source's: an
	// open breaker then answers connector_unavailable.
	pluginFault atomic.Bool

	// holdUntil (UnixNano) is when the source's last Retry-After ends;
	// until then no call is made and requests get holdCode.
	holdUntil atomic.Int64
	holdCode  atomic.Value // unified.Code

	slots chan struct{} // the bulkhead: one token per request in flight
	// inFlight is the connection's in-flight gauge, made on its first
	// request: a node of many tenants keeps no series for connections
	// nobody used.
	inFlightOnce sync.Once
	inFlight     prometheus.Gauge
	pacer        *pacer // nil when the connection is not paced
	budget       retryBudget
}

// The outcomes a request reports to the breaker, besides nil (success).
var (
	errFailed   = errors.New("counts as a failure")
	errExcluded = errors.New("does not count")
)

// New builds the guard of a connection. clk nil is the system clock.
func New(cn *config.Connection, m *Metrics, clk clock.Clock) *Guard {
	g := &Guard{
		connID:  cn.ID,
		limits:  cn.Limits.WithDefaults(cn.Timeout),
		breaker: cn.Breaker.WithDefaults(),
		m:       m,
		clk:     clock.Or(clk),
	}
	b := g.breaker
	g.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         cn.ID,
		MaxRequests:  b.HalfOpenProbes,
		Interval:     b.Window.D(),
		BucketPeriod: b.Window.D() / 10,
		Timeout:      b.OpenFor.D(),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			done := c.TotalSuccesses + c.TotalFailures
			return c.ConsecutiveFailures >= b.ConsecutiveFailures ||
				done >= b.MinRequests && float64(c.TotalFailures) >= b.FailureRatio*float64(done)
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errExcluded) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				g.openedAt.Store(g.clk.Now().UnixNano())
			}
			m.breakerTransitions.WithLabelValues(g.connID, to.String()).Inc()
		},
	})
	g.holdCode.Store(unified.CodeSourceUnavailable)
	g.slots = make(chan struct{}, g.limits.MaxConcurrent)
	if rate := g.limits.RatePerSecond; rate > 0 {
		g.pacer = newPacer(rate, g.clk)
	}
	g.budget = retryBudget{ratio: g.limits.RetryBudget, tokens: RetryReserve}
	return g
}

// State is the breaker's state (closed, half-open, open), for metrics.
func (g *Guard) State() gobreaker.State { return g.cb.State() }

func (g *Guard) reject(code unified.Code, retryAfter time.Duration, reason string) *Rejection {
	g.m.rejections.WithLabelValues(g.connID, reason).Inc()
	return &Rejection{Code: code, RetryAfter: retryAfter, Reason: reason}
}

// held refuses a call while the source's Retry-After runs.
func (g *Guard) held(now time.Time) *Rejection {
	until := g.holdUntil.Load()
	if until == 0 || now.UnixNano() >= until {
		return nil
	}
	return g.reject(g.holdCode.Load().(unified.Code), time.Duration(until-now.UnixNano()), ReasonRetryAfter)
}

// Throttled honours a source that answered status (429 or 503) with a
// Retry-After of d: no call until it ends (the longest hold wins), during
// which requests are answered source_rate_limited after a 429 and
// source_unavailable after a 503. It returns the hold it applied: d clamped
// to max_retry_after.
func (g *Guard) Throttled(status int, d time.Duration) time.Duration {
	d = min(d, g.limits.MaxRetryAfter.D())
	if d <= 0 {
		return d
	}
	code := unified.CodeSourceUnavailable
	if status == 429 {
		code = unified.CodeSourceRateLimited
	}
	until := g.clk.Now().Add(d).UnixNano()
	for {
		cur := g.holdUntil.Load()
		if cur >= until {
			return d
		}
		if g.holdUntil.CompareAndSwap(cur, until) {
			g.holdCode.Store(code)
			return d
		}
	}
}

// Ticket is a request let through to its connection: it holds a bulkhead
// slot and owes the breaker its outcome. The zero value is no ticket.
type Ticket struct {
	g    *Guard
	done func(error)
}

// Admit lets a request through the hold, the breaker and the bulkhead, or
// says why not. deadline bounds the bulkhead wait.
func (g *Guard) Admit(deadline time.Time) (Ticket, *Rejection) {
	now := g.clk.Now()
	if rj := g.held(now); rj != nil {
		return Ticket{}, rj
	}
	done, err := g.cb.Allow()
	if err != nil {
		code := unified.CodeSourceUnavailable
		if g.pluginFault.Load() {
			code = unified.CodeConnectorUnavailable
		}
		wait := time.Second // half-open, its probes in flight
		if errors.Is(err, gobreaker.ErrOpenState) {
			wait = time.Duration(g.openedAt.Load() + int64(g.breaker.OpenFor) - now.UnixNano())
		}
		return Ticket{}, g.reject(code, wait, ReasonBreaker)
	}
	if !g.acquire(now, deadline) {
		done(errExcluded)
		return Ticket{}, g.reject(unified.CodeSourceRateLimited, time.Second, ReasonBulkhead)
	}
	g.inFlightOnce.Do(func() { g.inFlight = g.m.inFlight.WithLabelValues(g.connID) })
	g.inFlight.Inc()
	return Ticket{g: g, done: done}, nil
}

// acquire takes a bulkhead slot: at once, or within the queue timeout and
// before the deadline.
func (g *Guard) acquire(now, deadline time.Time) bool {
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	wait := min(g.limits.QueueTimeout.D(), deadline.Sub(now))
	if wait <= 0 {
		return false
	}
	t := g.clk.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return true
	case <-t.C():
		return false
	}
}

// Held reports whether t holds an admission still to settle.
func (t *Ticket) Held() bool { return t.g != nil }

// Settle frees the request's slot and reports its outcome to the breaker,
// once: the ticket is spent after it.
func (t *Ticket) Settle(o Outcome) {
	g := t.g
	if g == nil {
		return
	}
	done := t.done
	*t = Ticket{}
	<-g.slots
	g.inFlight.Dec()
	var err error
	switch o.effect() {
	case failure:
		err = errFailed
		g.pluginFault.Store(o.pluginFault())
	case excluded:
		err = errExcluded
	}
	done(err)
}

// Trip opens the breaker at once: the connection's plugin is
// crash-looping, so every request would fail until it is back. gobreaker
// has no "open now", so the breaker is fed failures until it opens (at
// most consecutive_failures of them, in the closed state; one when
// half-open).
func (g *Guard) Trip() {
	g.pluginFault.Store(true)
	for i := 0; i < config.MaxConsecutiveFailures+1; i++ {
		if g.cb.State() == gobreaker.StateOpen {
			return
		}
		done, err := g.cb.Allow()
		if err != nil {
			return
		}
		done(errFailed)
	}
}
