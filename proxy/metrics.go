package proxy

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferryhealth/ferry/unified"
)

// metrics are the server's Prometheus series. Labels carry only route
// templates, operator-chosen connection ids, statuses and problem codes:
// never a path, a query or anything a client or source sent.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	upstream *prometheus.HistogramVec

	// Resilience, per connection (breaker state is read at scrape time by
	// breakerCollector).
	rejections         *prometheus.CounterVec
	breakerTransitions *prometheus.CounterVec
	inFlight           *prometheus.GaugeVec
	retries            *prometheus.CounterVec
	clientRejections   *prometheus.CounterVec
	// misdirected counts requests for tenants of other regions.
	misdirected *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_requests_total", Help: "API requests by route template, connection, status and problem code.",
	}, []string{"route", "connection", "status", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ferry_request_duration_seconds", Help: "Time to answer an API request.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ferry_upstream_duration_seconds", Help: "Time spent waiting on the source, per request.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"connection"})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_connection_rejections_total",
		Help: "Requests or source calls a connection refused before the source: reason is breaker, bulkhead, rate (pacing) or source_retry_after.",
	}, []string{"connection", "reason"})
	m.breakerTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_connection_breaker_transitions_total", Help: "Circuit breaker state changes, by the state entered.",
	}, []string{"connection", "state"})
	m.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ferry_connection_in_flight", Help: "Requests holding a connection's bulkhead slot.",
	}, []string{"connection"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_upstream_retries_total", Help: "Source calls retried after a connection error.",
	}, []string{"connection"})
	m.clientRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_client_rate_limited_total", Help: "Requests refused with 429 by a client's inbound limit.",
	}, []string{"client"})
	m.misdirected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_misdirected_requests_total",
		Help: "Requests for a tenant whose home is another region, by home region and outcome: redirect (421), forward, forward_failed (503).",
	}, []string{"home_region", "outcome"})
	m.reg.MustRegister(m.requests, m.duration, m.upstream,
		m.rejections, m.breakerTransitions, m.inFlight, m.retries, m.clientRejections, m.misdirected,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route, conn string, status int, code unified.Code, total, upstream time.Duration) {
	m.requests.WithLabelValues(route, conn, strconv.Itoa(status), string(code)).Inc()
	m.duration.WithLabelValues(route).Observe(total.Seconds())
	if conn != "" && upstream > 0 {
		m.upstream.WithLabelValues(conn).Observe(upstream.Seconds())
	}
}

// breakerCollector reports each connection's breaker state when scraped:
// gobreaker moves from open to half-open lazily, so a gauge set on
// transitions would go stale.
type breakerCollector struct {
	conns map[string]*connEntry
}

var breakerStateDesc = prometheus.NewDesc("ferry_connection_breaker_state",
	"Circuit breaker state per connection: 0 closed, 1 half-open, 2 open.", []string{"connection"}, nil)

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerStateDesc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for id, cn := range c.conns {
		ch <- prometheus.MustNewConstMetric(breakerStateDesc, prometheus.GaugeValue, float64(cn.res.cb.State()), id)
	}
}
