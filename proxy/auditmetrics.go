package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferryhealth/ferry/auditlog"
)

// auditCollector exports the audit trail's delivery state at scrape time,
// read from the Emitter's own counters. Labels are tenant ids and sink
// names from the config: never event content.
type auditCollector struct {
	em *auditlog.Emitter

	emitted, dropped, refused, checkpoints *prometheus.Desc
	queued, delivered, lost, failures      *prometheus.Desc
	lastSuccess, undelivered               *prometheus.Desc
}

func newAuditCollector(em *auditlog.Emitter) *auditCollector {
	stream := []string{"tenant"}
	sink := []string{"tenant", "sink"}
	return &auditCollector{
		em:          em,
		emitted:     prometheus.NewDesc("ferry_audit_events_total", "Audit events given a place in a tenant's chain, checkpoints included.", stream, nil),
		dropped:     prometheus.NewDesc("ferry_audit_dropped_total", "Audit events no sink queue had room for (policy drop): not in the trail.", stream, nil),
		refused:     prometheus.NewDesc("ferry_audit_refused_total", "Requests refused with 503 audit_unavailable (policy block).", stream, nil),
		checkpoints: prometheus.NewDesc("ferry_audit_checkpoints_total", "Signed checkpoints added to a tenant's chain.", stream, nil),
		queued:      prometheus.NewDesc("ferry_audit_sink_queued", "Audit events waiting in memory for a sink.", sink, nil),
		delivered:   prometheus.NewDesc("ferry_audit_sink_delivered_total", "Audit events a sink accepted.", sink, nil),
		lost:        prometheus.NewDesc("ferry_audit_sink_lost_total", "Audit events a sink never got (queue full, or shut down undelivered).", sink, nil),
		failures:    prometheus.NewDesc("ferry_audit_sink_failures_total", "Failed delivery attempts to a sink.", sink, nil),
		lastSuccess: prometheus.NewDesc("ferry_audit_sink_last_success_timestamp_seconds", "When a sink last accepted a batch (0: never).", sink, nil),
		undelivered: prometheus.NewDesc("ferry_audit_write_failures_total", "Events that could not be handed to any stream.", nil, nil),
	}
}

func (c *auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.emitted, c.dropped, c.refused, c.checkpoints, c.queued,
		c.delivered, c.lost, c.failures, c.lastSuccess, c.undelivered} {
		ch <- d
	}
}

func (c *auditCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.em.Stats() {
		t := st.Tenant
		ch <- prometheus.MustNewConstMetric(c.emitted, prometheus.CounterValue, float64(st.Emitted), t)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped), t)
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused), t)
		ch <- prometheus.MustNewConstMetric(c.checkpoints, prometheus.CounterValue, float64(st.Checkpoints), t)
		for _, sk := range st.Sinks {
			ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(sk.Queued), t, sk.Name)
			ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(sk.Delivered), t, sk.Name)
			ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(sk.Lost), t, sk.Name)
			ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(sk.Failures), t, sk.Name)
			last := 0.0
			if !sk.LastSuccess.IsZero() {
				last = float64(sk.LastSuccess.UnixNano()) / 1e9
			}
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, last, t, sk.Name)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.undelivered, prometheus.CounterValue, float64(c.em.Failures()))
}
