package proxy

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/unified"
)

// metrics are the server's Prometheus series. Labels carry only route
// templates, operator-chosen connection ids, statuses and problem codes:
// never a path, a query or anything a client or source sent.
type metrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	// requests and upstream have a series per connection (and per route,
	// status and code): kept compact and written at scrape time
	// (writeConnMetrics) rather than as client_golang series of about a
	// kilobyte each.
	requests requestCounts
	upstream upstreamHists

	// guards are the connections' guards' series (breaker state is read at
	// scrape time by writeBreakerMetrics).
	guards           *guard.Metrics
	clientRejections *prometheus.CounterVec
	// misdirected counts requests for tenants of other regions.
	misdirected *prometheus.CounterVec
	authz       authzMetrics
	// generation is the configuration's: 1 at start, one more per reload
	// that took; reloads counts reloads by outcome.
	generation atomic.Uint64
	reloads    *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ferry_request_duration_seconds", Help: "Time to answer an API request.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	m.requests.m = map[requestKey]*atomic.Uint64{}
	m.upstream.m = map[string]*upstreamHist{}
	m.guards = guard.NewMetrics()
	m.clientRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_client_rate_limited_total", Help: "Requests refused with 429 by a client's inbound limit.",
	}, []string{"client"})
	m.misdirected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_misdirected_requests_total",
		Help: "Requests for a tenant whose home is another region, by home region and outcome: redirect (421), forward, forward_failed (503).",
	}, []string{"home_region", "outcome"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_config_reloads_total",
		Help: "Configuration reloads (SIGHUP) by outcome: success (swapped in), failure (invalid or not reloadable: the old configuration keeps serving).",
	}, []string{"outcome"})
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	generation := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ferry_config_generation", Help: "The configuration being served: 1 at start, one more at each successful reload.",
	}, func() float64 { return float64(m.generation.Load()) })
	m.reg.MustRegister(m.reloads, generation)
	m.reg.MustRegister(m.guards.Collectors()...)
	m.reg.MustRegister(m.newAuthzMetrics()...)
	m.reg.MustRegister(m.duration, m.clientRejections, m.misdirected,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// HopCounters is implemented by a Connectors whose calls cross into plugin
// processes (plugins.Host): what the hop did, for the ferry_plugin_*
// counters.
type HopCounters interface {
	HopCounters() (prefetched, prefetchMissed, panics uint64)
}

// watchHop exposes the plugin hop's counters, read at scrape time.
func (m *metrics) watchHop(c Connectors) {
	h, ok := c.(HopCounters)
	if !ok {
		return
	}
	read := func(pick func(prefetched, missed, panics uint64) uint64) func() float64 {
		return func() float64 { return float64(pick(h.HopCounters())) }
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ferry_plugin_prefetched_calls_total",
			Help: "Calls sent to a plugin with the source answer its connection's template describes, made by the host beforehand (one round trip between the processes instead of two).",
		}, read(func(p, _, _ uint64) uint64 { return p })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ferry_plugin_prefetch_misses_total",
			Help: "Prefetched calls whose connector asked the source for something else first: the template does not describe the connector's request, and the prefetch was a wasted source call.",
		}, read(func(_, m, _ uint64) uint64 { return m })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ferry_plugin_panics_total", Help: "Plugin calls that failed because the connector panicked (recovered by the SDK).",
		}, read(func(_, _, n uint64) uint64 { return n })),
	)
}

func (m *metrics) observe(route, conn string, status int, code unified.Code, total, upstream time.Duration) {
	m.requests.inc(requestKey{route: route, conn: conn, code: code, status: status})
	m.duration.WithLabelValues(route).Observe(total.Seconds())
	if conn != "" && upstream > 0 {
		m.upstream.get(conn).observe(upstream.Seconds())
	}
}

// requestKey is one series of ferry_requests_total.
type requestKey struct {
	route, conn string
	code        unified.Code
	status      int
}

// requestCounts is ferry_requests_total: a counter per series, made on its
// first request.
type requestCounts struct {
	mu sync.RWMutex
	m  map[requestKey]*atomic.Uint64
}

func (c *requestCounts) inc(k requestKey) {
	c.mu.RLock()
	n := c.m[k]
	c.mu.RUnlock()
	if n == nil {
		c.mu.Lock()
		if n = c.m[k]; n == nil {
			n = new(atomic.Uint64)
			c.m[k] = n
		}
		c.mu.Unlock()
	}
	n.Add(1)
}

// upstreamBuckets are ferry_upstream_duration_seconds's upper bounds.
var upstreamBuckets = [...]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// upstreamHist is one connection's ferry_upstream_duration_seconds: a
// count per bucket (not cumulative; the last is above every bound), the
// sum's bits and the count.
type upstreamHist struct {
	counts [len(upstreamBuckets) + 1]atomic.Uint64
	sum    atomic.Uint64 // math.Float64bits
	count  atomic.Uint64
}

func (h *upstreamHist) observe(v float64) {
	i := 0
	for i < len(upstreamBuckets) && v > upstreamBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

// upstreamHists holds each connection's histogram, made on its first
// source call.
type upstreamHists struct {
	mu sync.RWMutex
	m  map[string]*upstreamHist
}

func (u *upstreamHists) get(conn string) *upstreamHist {
	u.mu.RLock()
	h := u.m[conn]
	u.mu.RUnlock()
	if h == nil {
		u.mu.Lock()
		if h = u.m[conn]; h == nil {
			h = &upstreamHist{}
			u.m[conn] = h
		}
		u.mu.Unlock()
	}
	return h
}

// writeConnMetrics appends ferry_requests_total and
// ferry_upstream_duration_seconds to rc's body in the text format, labels
// in name order as client_golang writes them.
func (m *metrics) writeConnMetrics(rc *fasthttp.RequestCtx) {
	const reqName = "ferry_requests_total"
	line := appendFamilyHeader(make([]byte, 0, 256), reqName, "API requests by route template, connection, status and problem code.", "counter")
	_, _ = rc.Write(line)
	m.requests.mu.RLock()
	for k, n := range m.requests.m {
		line = append(line[:0], reqName...)
		line = append(line, `{code="`...)
		line = appendLabelValue(line, string(k.code))
		line = append(line, `",connection="`...)
		line = appendLabelValue(line, k.conn)
		line = append(line, `",route="`...)
		line = appendLabelValue(line, k.route)
		line = append(line, `",status="`...)
		line = strconv.AppendInt(line, int64(k.status), 10)
		line = append(line, `"} `...)
		line = strconv.AppendUint(line, n.Load(), 10)
		line = append(line, '\n')
		_, _ = rc.Write(line)
	}
	m.requests.mu.RUnlock()

	const upName = "ferry_upstream_duration_seconds"
	line = appendFamilyHeader(line[:0], upName, "Time spent waiting on the source, per request.", "histogram")
	_, _ = rc.Write(line)
	m.upstream.mu.RLock()
	for conn, h := range m.upstream.m {
		// The count first: buckets read after it never sum to less, so
		// the +Inf bucket (the count) is at least every other bucket.
		count := h.count.Load()
		var cum uint64
		for i := range len(upstreamBuckets) + 1 {
			line = append(line[:0], upName...)
			line = append(line, `_bucket{connection="`...)
			line = appendLabelValue(line, conn)
			line = append(line, `",le="`...)
			if i < len(upstreamBuckets) {
				cum += h.counts[i].Load()
				line = appendValue(line, upstreamBuckets[i])
				line = append(line, `"} `...)
				line = strconv.AppendUint(line, min(cum, count), 10)
			} else {
				line = append(line, `+Inf"} `...)
				line = strconv.AppendUint(line, count, 10)
			}
			line = append(line, '\n')
			_, _ = rc.Write(line)
		}
		for _, part := range [...]string{"_sum", "_count"} {
			line = append(line[:0], upName...)
			line = append(line, part...)
			line = append(line, `{connection="`...)
			line = appendLabelValue(line, conn)
			line = append(line, `"} `...)
			if part == "_sum" {
				line = appendValue(line, math.Float64frombits(h.sum.Load()))
			} else {
				line = strconv.AppendUint(line, count, 10)
			}
			line = append(line, '\n')
			_, _ = rc.Write(line)
		}
	}
	m.upstream.mu.RUnlock()
}

// serveMetrics answers /metrics in the Prometheus text format (0.0.4): the
// registry's families, then the per-connection breaker states, the audit
// trail's per-tenant families and the plugins' sandboxes, written line by
// line.
func (s *Server) serveMetrics(rc *fasthttp.RequestCtx) {
	mfs, err := s.metrics.reg.Gather()
	if err != nil && len(mfs) == 0 {
		s.log.Error("gathering metrics", "err", err)
		rc.SetStatusCode(fasthttp.StatusInternalServerError)
		return
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	rc.SetContentType(string(format))
	enc := expfmt.NewEncoder(rc, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			s.log.Error("encoding metrics", "err", err)
			rc.ResetBody()
			rc.SetStatusCode(fasthttp.StatusInternalServerError)
			return
		}
	}
	s.metrics.writeConnMetrics(rc)
	writeBreakerMetrics(rc, s.tab.Load().connections)
	writeAuditMetrics(rc, s.audit)
	s.writeTenantMetrics(rc)
	writeSandboxMetrics(rc, s.sandboxes())
	for _, m := range s.extra {
		_, _ = rc.Write(m.AppendMetrics(nil))
	}
}

// writeBreakerMetrics appends each connection's breaker state to rc's body
// in the text format, read when scraped: gobreaker moves from open to
// half-open lazily, so a gauge set on transitions would go stale. Like the
// audit families, the series (one per connection) are written line by line
// rather than gathered.
func writeBreakerMetrics(rc *fasthttp.RequestCtx, conns map[string]*connEntry) {
	const name = "ferry_connection_breaker_state"
	line := appendFamilyHeader(make([]byte, 0, 256), name, "Circuit breaker state per connection: 0 closed, 1 half-open, 2 open.", "gauge")
	_, _ = rc.Write(line)
	for id, cn := range conns {
		line = append(line[:0], name...)
		line = append(line, `{connection="`...)
		line = appendLabelValue(line, id)
		line = append(line, `"} `...)
		line = appendValue(line, float64(cn.guard.State()))
		line = append(line, '\n')
		_, _ = rc.Write(line)
	}
}
