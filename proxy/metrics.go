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
	m.reg.MustRegister(m.requests, m.duration, m.upstream,
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
