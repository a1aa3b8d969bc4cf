package guard

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the guards' series, one set for every connection of a node,
// labelled by connection id (chosen by the operator).
type Metrics struct {
	rejections         *prometheus.CounterVec
	breakerTransitions *prometheus.CounterVec
	inFlight           *prometheus.GaugeVec
	retries            *prometheus.CounterVec
}

// NewMetrics makes the series; the caller registers Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_connection_rejections_total",
			Help: "Requests or source calls a connection refused before the source: reason is breaker, bulkhead, rate (pacing) or source_retry_after.",
		}, []string{"connection", "reason"}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_connection_breaker_transitions_total", Help: "Circuit breaker state changes, by the state entered.",
		}, []string{"connection", "state"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_connection_in_flight", Help: "Requests holding a connection's bulkhead slot.",
		}, []string{"connection"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_upstream_retries_total", Help: "Source calls retried after a connection error.",
		}, []string{"connection"}),
	}
}

// Collectors are the series to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.rejections, m.breakerTransitions, m.inFlight, m.retries}
}
