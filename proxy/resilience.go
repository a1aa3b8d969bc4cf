package proxy

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/ratelimit"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/unified"
)

// resilience is what protects one connection, and everything else from it:
// its circuit breaker, the hold a source's Retry-After puts on it, the
// bulkhead bounding its requests in flight, the pacer spacing its calls to
// the source, and the budget its retries draw on. All of it is per replica
// and in memory: nothing is shared between replicas (a shared store would
// bring storage into a zero-storage product).
//
// A request meets these in this order (docs/resilience.md): the hold and the
// breaker when it is admitted to the connection, then the bulkhead, all
// before the plugin is called; the pacer and retries on every call the host
// transport makes to the source for it.
type resilience struct {
	connID  string
	limits  config.ConnectionLimits // with defaults
	breaker config.Breaker          // with defaults
	m       *metrics

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

func newResilience(cn *config.Connection, m *metrics) *resilience {
	r := &resilience{
		connID:  cn.ID,
		limits:  cn.Limits.WithDefaults(cn.Timeout),
		breaker: cn.Breaker.WithDefaults(),
		m:       m,
	}
	b := r.breaker
	r.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
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
				r.openedAt.Store(time.Now().UnixNano())
			}
			m.breakerTransitions.WithLabelValues(r.connID, to.String()).Inc()
		},
	})
	r.holdCode.Store(unified.CodeSourceUnavailable)
	r.slots = make(chan struct{}, r.limits.MaxConcurrent)
	if rate := r.limits.RatePerSecond; rate > 0 {
		r.pacer = newPacer(rate)
	}
	r.budget = retryBudget{ratio: r.limits.RetryBudget, tokens: retryReserve}
	return r
}

// The outcomes a request reports to its connection's breaker, besides nil
// (success).
var (
	errFailed   = errors.New("counts as a failure")
	errExcluded = errors.New("does not count")
)

// rejection is a request or a source call refused by the host's own
// resilience machinery, before it reached the source. Inside a request it
// travels as the Err of a *connectors.Error, so a connector passes it back
// like any transport error, and the host (which keeps its own record of
// what its transport returned, see plugins.preferHostErr) finds it again.
type rejection struct {
	code       unified.Code
	retryAfter time.Duration
	reason     string // metrics label
}

func (r *rejection) Error() string { return "ferry: refused by the connection's " + r.reason }

func (r *rejection) problem() *problem {
	return &problem{code: r.code, retryAfter: r.retryAfter}
}

// The rejection reasons, as metrics labels.
const (
	reasonBreaker    = "breaker"
	reasonBulkhead   = "bulkhead"
	reasonRate       = "rate"
	reasonRetryAfter = "source_retry_after"
)

func (r *resilience) reject(code unified.Code, retryAfter time.Duration, reason string) *rejection {
	r.m.rejections.WithLabelValues(r.connID, reason).Inc()
	return &rejection{code: code, retryAfter: retryAfter, reason: reason}
}

// held refuses a call while the source's Retry-After runs.
func (r *resilience) held(now time.Time) *rejection {
	until := r.holdUntil.Load()
	if until == 0 || now.UnixNano() >= until {
		return nil
	}
	return r.reject(r.holdCode.Load().(unified.Code), time.Duration(until-now.UnixNano()), reasonRetryAfter)
}

// hold honours a source's Retry-After: no call until it ends. The longest
// hold wins.
func (r *resilience) hold(d time.Duration, code unified.Code) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := r.holdUntil.Load()
		if cur >= until {
			return
		}
		if r.holdUntil.CompareAndSwap(cur, until) {
			r.holdCode.Store(code)
			return
		}
	}
}

// admission is a request let through to its connection: it holds a
// bulkhead slot and owes the breaker its outcome. The zero value is no
// admission.
type admission struct {
	r    *resilience
	done func(error)
}

// admit lets a request through the hold, the breaker and the bulkhead, or
// says why not. deadline bounds the bulkhead wait.
func (r *resilience) admit(deadline time.Time) (admission, *rejection) {
	now := time.Now()
	if rj := r.held(now); rj != nil {
		return admission{}, rj
	}
	done, err := r.cb.Allow()
	if err != nil {
		code := unified.CodeSourceUnavailable
		if r.pluginFault.Load() {
			code = unified.CodeConnectorUnavailable
		}
		wait := time.Second // half-open, its probes in flight
		if errors.Is(err, gobreaker.ErrOpenState) {
			wait = time.Duration(r.openedAt.Load() + int64(r.breaker.OpenFor) - now.UnixNano())
		}
		return admission{}, r.reject(code, wait, reasonBreaker)
	}
	if !r.acquire(deadline) {
		done(errExcluded)
		return admission{}, r.reject(unified.CodeSourceRateLimited, time.Second, reasonBulkhead)
	}
	r.inFlightOnce.Do(func() { r.inFlight = r.m.inFlight.WithLabelValues(r.connID) })
	r.inFlight.Inc()
	return admission{r: r, done: done}, nil
}

// acquire takes a bulkhead slot: at once, or within the queue timeout and
// before the deadline.
func (r *resilience) acquire(deadline time.Time) bool {
	select {
	case r.slots <- struct{}{}:
		return true
	default:
	}
	wait := min(r.limits.QueueTimeout.D(), time.Until(deadline))
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// settle frees the request's slot and reports its outcome to the breaker.
func (a *admission) settle(outcome error, pluginFault bool) {
	<-a.r.slots
	a.r.inFlight.Dec()
	if errors.Is(outcome, errFailed) {
		a.r.pluginFault.Store(pluginFault)
	}
	a.done(outcome)
}

// trip opens the breaker at once: the connection's plugin is crash-looping,
// so every request would fail until it is back. gobreaker has no "open
// now", so the breaker is fed failures until it opens (at most
// consecutive_failures of them, in the closed state; one when half-open).
func (r *resilience) trip() {
	r.pluginFault.Store(true)
	for i := 0; i < config.MaxConsecutiveFailures+1; i++ {
		if r.cb.State() == gobreaker.StateOpen {
			return
		}
		done, err := r.cb.Allow()
		if err != nil {
			return
		}
		done(errFailed)
	}
}

// outcome is what a finished request tells its connection's breaker. The
// source's 5xx answers, timeouts and connection errors, unreadable answers,
// and a plugin that hangs until the deadline, are failures; 4xx answers are
// successes (the source is up). Requests that never reached the source,
// that the client shortened and then timed out, or that were cancelled do
// not count, nor do plugin crashes and errors: the plugin host restarts a
// crashed plugin at once, and a crash loop opens the breakers of all the
// plugin's connections by itself (settleConnection). Counting each crash
// here would turn one crash, which fails every call in flight at once, into
// an outage of open_for.
func outcome(x *exchange, p *problem) error {
	up := x.up.snapshot()
	if up.fault == faultCanceled || up.fault == faultPool {
		return errExcluded
	}
	if p == nil {
		if up.status >= 500 {
			return errFailed // relayed (passthrough) or tolerated by the connector
		}
		return nil
	}
	if x.hostRejected {
		return errExcluded
	}
	switch p.code {
	case unified.CodeConnectorError, unified.CodeConnectorUnavailable:
		if up.fault != faultNone || up.status >= 500 {
			return errFailed // the plugin failed because the source did
		}
		return errExcluded
	case unified.CodeSourceUnavailable:
		return errFailed
	case unified.CodeUpstreamTimeout:
		if x.shortened {
			return errExcluded
		}
		return errFailed
	case unified.CodeUpstreamError:
		if up.fault == faultNone && up.status >= 400 && up.status < 500 {
			return nil // the source answered; it refused Ferry's request
		}
		return errFailed
	case unified.CodeSourceRateLimited, unified.CodeCredentialsUnavailable, unified.CodeInternal, unified.CodeAuditUnavailable:
		return errExcluded
	}
	return nil
}

// pluginFault reports whether a failed request failed in the plugin rather
// than at the source: it timed out, and the source was not what it was
// waiting for.
func pluginFault(x *exchange, p *problem) bool {
	if p == nil || p.code != unified.CodeUpstreamTimeout {
		return false
	}
	up := x.up.snapshot()
	return up.calls == 0 || up.fault == faultNone
}

// pacer spaces a connection's source calls at its configured rate with
// go.uber.org/ratelimit, and refuses a call that would have to wait past its
// deadline instead of blocking. Take cannot be cancelled, so the wait is
// known before it is taken: the pacer keeps the limiter's schedule (strict,
// no slack) beside it and admits a call only if its turn comes in time.
type pacer struct {
	rl  ratelimit.Limiter
	per time.Duration

	mu   sync.Mutex
	next time.Time // when the next call may go, by the limiter's rule
}

func newPacer(perSecond float64) *pacer {
	per := time.Duration(float64(time.Second) / perSecond)
	return &pacer{rl: ratelimit.New(1, ratelimit.Per(per), ratelimit.WithoutSlack), per: per}
}

// wait blocks until the call's turn, or returns at once how long it would
// have had to wait when that is past the deadline.
func (p *pacer) wait(deadline time.Time) (time.Duration, bool) {
	p.mu.Lock()
	now := time.Now()
	turn := p.next
	if turn.Before(now) {
		turn = now
	}
	if !turn.Before(deadline) {
		p.mu.Unlock()
		return turn.Sub(now), false
	}
	p.next = turn.Add(p.per)
	p.mu.Unlock()
	p.rl.Take()
	return 0, true
}

// callSource makes one source call for a request, whatever the protocol
// (an HTTP request, an MLLP exchange): it waits out no source Retry-After
// (it is refused during one), takes its turn from the connection's pacer
// (or is refused if the turn comes after the deadline), and retries an
// idempotent call after a connection error, with jittered backoff, while
// the connection's retry budget and the deadline allow. attempt makes one
// try, returns a classified error (a *connectors.Error) and records an
// answer in rec itself; callSource records the faults.
func (r *resilience) callSource(ctx context.Context, rec *upstreamRecord, deadline time.Time, idempotent bool, attempt func() error) error {
	r.budget.earn()
	for n := 1; ; n++ {
		if rj := r.held(time.Now()); rj != nil {
			return &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: rj}
		}
		if r.pacer != nil {
			if wait, ok := r.pacer.wait(deadline); !ok {
				rj := r.reject(unified.CodeSourceRateLimited, wait, reasonRate)
				return &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: rj}
			}
		}
		err := attempt()
		if err == nil {
			return nil
		}
		f := faultOf(ctx, err)
		rec.noteFault(f)
		if !idempotent || f != faultConnect || errors.Is(err, errEgressDenied) || n >= r.limits.MaxAttempts {
			return err
		}
		wait := backoff(n)
		if !time.Now().Add(wait).Before(deadline) || !r.budget.spend() {
			return err
		}
		if !sleepCtx(ctx, wait) {
			return err
		}
		r.m.retries.WithLabelValues(r.connID).Inc()
	}
}

// retryReserve is the retries a connection may make before its budget has
// earned any, and the most it keeps.
const retryReserve = 10

// retryBudget lets retries be at most a share of a connection's calls: each
// first attempt earns ratio of a retry, each retry spends one.
type retryBudget struct {
	mu     sync.Mutex
	ratio  float64
	tokens float64
}

func (b *retryBudget) earn() {
	b.mu.Lock()
	b.tokens = min(b.tokens+b.ratio, retryReserve)
	b.mu.Unlock()
}

func (b *retryBudget) spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// backoff is the wait before retry n (1, 2, …): 25 ms doubling, capped at
// 1 s, with "equal jitter" (half fixed, half random) so that requests that
// failed together do not retry together.
func backoff(n int) time.Duration {
	d := min(25*time.Millisecond<<(n-1), time.Second)
	return d/2 + rand.N(d/2+1)
}

// sleepUntil waits d, unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fault is how a source call failed, for the breaker.
type fault int

const (
	faultNone     fault = iota
	faultConnect        // refused, reset, closed early, truncated or malformed answer
	faultAnswer         // an answer Ferry will not take (larger than the limit)
	faultTimeout        // the deadline passed waiting for the source
	faultCanceled       // the request was cancelled (shutdown)
	faultPool           // no free connection in Ferry's own pool: not the source's failure
)

// upstreamRecord is what the host transport saw of the source during one
// request: the last call's status or fault, and what the source said about
// its limits. The transport writes it from the plugin's calls, which may be
// concurrent; the request reads it when it ends.
type upstreamRecord struct {
	mu sync.Mutex
	upstreamState
}

type upstreamState struct {
	calls      int
	status     int   // of the last answer
	fault      fault // of the last call
	throttled  int   // 429 or 503 when the last answer was one
	retryAfter time.Duration
	// The source's rate-limit headers, normalised to decimal integers
	// (reset in seconds from now); empty when the source sent none.
	limit, remaining, reset string
}

func (u *upstreamRecord) snapshot() upstreamState {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.upstreamState
}

func (u *upstreamRecord) noteFault(f fault) {
	u.mu.Lock()
	u.calls++
	u.fault, u.status, u.throttled, u.retryAfter = f, 0, 0, 0
	u.mu.Unlock()
}

// noteAnswer records a source answer. A 429 or 503 with Retry-After puts
// the connection on hold for that long (clamped to max_retry_after).
func (u *upstreamRecord) noteAnswer(resp *fasthttp.Response, r *resilience) {
	st := resp.StatusCode()
	var ra time.Duration
	throttled := 0
	if st == fasthttp.StatusTooManyRequests || st == fasthttp.StatusServiceUnavailable {
		throttled = st
		if d, ok := parseRetryAfter(resp.Header.Peek("Retry-After"), time.Now()); ok {
			ra = min(d, r.limits.MaxRetryAfter.D())
			if ra > 0 {
				code := unified.CodeSourceUnavailable
				if st == fasthttp.StatusTooManyRequests {
					code = unified.CodeSourceRateLimited
				}
				r.hold(ra, code)
			}
		}
	}
	limit, remaining, reset := sourceRateLimit(&resp.Header, time.Now())
	u.mu.Lock()
	u.calls++
	u.status, u.fault, u.throttled, u.retryAfter = st, faultNone, throttled, ra
	if limit != "" || remaining != "" || reset != "" {
		u.limit, u.remaining, u.reset = limit, remaining, reset
	}
	u.mu.Unlock()
}

// parseRetryAfter reads delta-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v []byte, now time.Time) (time.Duration, bool) {
	s := strings.TrimSpace(string(v))
	if s == "" {
		return 0, false
	}
	if n, ok := decimal(s); ok {
		return time.Duration(min(n, 1<<31)) * time.Second, true
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// decimal parses a short run of ASCII digits; nothing else is accepted, so
// nothing but a number of a source's header ever reaches a client.
func decimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// sourceRateLimit normalises the rate-limit headers sources send: the
// X-RateLimit-* family (reset as seconds or as a Unix time), the IETF
// draft's RateLimit-Limit/-Remaining/-Reset, and its structured form
// (RateLimit: limit=100, remaining=5, reset=30; or "policy";r=5;t=30 with
// RateLimit-Policy: "policy";q=100;w=60).
func sourceRateLimit(h *fasthttp.ResponseHeader, now time.Time) (limit, remaining, reset string) {
	num := func(names ...string) string {
		for _, n := range names {
			if v, ok := decimal(strings.TrimSpace(string(h.Peek(n)))); ok {
				return strconv.FormatInt(v, 10)
			}
		}
		return ""
	}
	limit = num("X-RateLimit-Limit", "RateLimit-Limit")
	remaining = num("X-RateLimit-Remaining", "RateLimit-Remaining")
	reset = num("X-RateLimit-Reset", "RateLimit-Reset")
	if v := h.Peek("RateLimit"); len(v) > 0 {
		p := structuredParams(string(v))
		limit = firstNonEmpty(limit, p["limit"])
		remaining = firstNonEmpty(remaining, p["remaining"], p["r"])
		reset = firstNonEmpty(reset, p["reset"], p["t"])
	}
	if limit == "" {
		if v := h.Peek("RateLimit-Policy"); len(v) > 0 {
			limit = structuredParams(string(v))["q"]
		}
	}
	if n, ok := decimal(reset); ok && n > 1_000_000_000 {
		// A Unix time (GitHub and others): seconds from now.
		reset = strconv.FormatInt(max(n-now.Unix(), 0), 10)
	}
	return limit, remaining, reset
}

// structuredParams picks name=number pairs out of a RateLimit header value,
// whatever separates them (",", ";" or spaces).
func structuredParams(v string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if n, ok := decimal(strings.TrimSpace(val)); ok {
			k = strings.ToLower(strings.TrimSpace(k))
			if _, seen := out[k]; !seen {
				out[k] = strconv.FormatInt(n, 10)
			}
		}
	}
	return out
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// retryAfterSeconds is the Retry-After value for a wait: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}

// reachesSource reports whether serving the route calls the connection's
// source (through its plugin or directly), and so meets its limits.
func (r route) reachesSource() bool { return r.unified() || r.template == routePassthrough }

// The per-request deadline header. Its value is a Go duration ("2.5s",
// "800ms"); Ferry clamps it to the connection's max_timeout.
const timeoutHeader = "X-Ferry-Timeout"

// setDeadline fixes the request's deadline: the connection's timeout, or
// what the client asked for with X-Ferry-Timeout, at most the connection's
// max_timeout. It runs from the request's arrival, so time spent in earlier
// stages counts.
func (s *Server) setDeadline(x *exchange) *problem {
	if !x.route.reachesSource() {
		return nil
	}
	d := x.conn.cfg.Timeout.D()
	if v := x.rc.Request.Header.Peek(timeoutHeader); len(v) > 0 {
		asked, err := time.ParseDuration(string(v))
		if err != nil || asked <= 0 || len(v) > 32 {
			return fail(unified.CodeInvalidParameter, timeoutHeader)
		}
		if asked < d {
			x.shortened = true
		}
		d = min(asked, x.conn.res.limits.MaxTimeout.D())
	}
	x.deadline = x.start.Add(d)
	return nil
}

// admitConnection lets the request through its connection's hold, breaker
// and bulkhead. What it takes, settleConnection gives back.
func (s *Server) admitConnection(x *exchange) *problem {
	if !x.route.reachesSource() {
		return nil
	}
	a, rj := x.conn.res.admit(x.deadline)
	if rj != nil {
		x.hostRejected = true
		return rj.problem()
	}
	x.admission = a
	return nil
}

// settleConnection reports the request's outcome to its connection once
// the pipeline is done with it, however it ended. A plugin found down (not
// running, or backing off from a crash loop) opens the breakers of every
// connection it serves.
func (s *Server) settleConnection(x *exchange, p *problem) {
	a := x.admission
	if a.r == nil {
		return
	}
	x.admission = admission{}
	a.settle(outcome(x, p), pluginFault(x, p))
	if x.pluginDown {
		for _, cn := range s.byKind[x.conn.kind] {
			cn.res.trip()
		}
	}
}

// limitsProblem turns a request's failure into the answer the client
// should get when the source itself asked to slow down: a source 429 is
// 503 source_rate_limited, a 503 is source_unavailable, both with the
// source's Retry-After (clamped). The connector saw only a status.
func limitsProblem(x *exchange, p *problem) *problem {
	up := x.up.snapshot()
	if p == nil || up.throttled == 0 || up.fault != faultNone {
		return p
	}
	switch p.code {
	case unified.CodeUpstreamError, unified.CodeConnectorError, unified.CodeSourceUnavailable:
	default:
		return p
	}
	code := unified.CodeSourceUnavailable
	if up.throttled == fasthttp.StatusTooManyRequests {
		code = unified.CodeSourceRateLimited
	}
	return &problem{code: code, retryAfter: max(up.retryAfter, time.Second)}
}

// hostRejection finds a rejection of the host's own machinery in a
// connector's error.
func hostRejection(err error) (*rejection, bool) {
	var rj *rejection
	if errors.As(err, &rj) {
		return rj, true
	}
	return nil, false
}
