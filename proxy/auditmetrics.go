package proxy

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog"
)

// The audit trail's delivery state, exported at scrape time from the
// Emitter's own counters. Labels are tenant ids and sink names from the
// config: never event content.
//
// These families have a series per tenant (and per sink of each tenant):
// nine series per tenant, ninety thousand on a node of ten thousand. They
// are written straight to the response in the text format, one line at a
// time, rather than built as client_golang metrics and gathered: that cost
// tens of megabytes of short-lived heap on every scrape of a large node.

// auditFamily is one family of the audit metrics: its name, help, type,
// and the value of one tenant's stream (sink is nil for a stream family) or
// of one of its sinks.
type auditFamily struct {
	name, help, kind string
	stream           func(*auditlog.StreamStats) float64
	sink             func(*auditlog.SinkStats) float64
}

var auditFamilies = []auditFamily{
	{name: "ferry_audit_events_total", kind: "counter", help: "Audit events given a place in a tenant's chain, checkpoints included.",
		stream: func(s *auditlog.StreamStats) float64 { return float64(s.Emitted) }},
	{name: "ferry_audit_dropped_total", kind: "counter", help: "Audit events no sink queue had room for (policy drop): not in the trail.",
		stream: func(s *auditlog.StreamStats) float64 { return float64(s.Dropped) }},
	{name: "ferry_audit_refused_total", kind: "counter", help: "Requests refused with 503 audit_unavailable (policy block).",
		stream: func(s *auditlog.StreamStats) float64 { return float64(s.Refused) }},
	{name: "ferry_audit_checkpoints_total", kind: "counter", help: "Signed checkpoints added to a tenant's chain.",
		stream: func(s *auditlog.StreamStats) float64 { return float64(s.Checkpoints) }},
	{name: "ferry_audit_sink_queued", kind: "gauge", help: "Audit events waiting in memory for a sink.",
		sink: func(s *auditlog.SinkStats) float64 { return float64(s.Queued) }},
	{name: "ferry_audit_sink_delivered_total", kind: "counter", help: "Audit events a sink accepted.",
		sink: func(s *auditlog.SinkStats) float64 { return float64(s.Delivered) }},
	{name: "ferry_audit_sink_lost_total", kind: "counter", help: "Audit events a sink never got (queue full, or shut down undelivered).",
		sink: func(s *auditlog.SinkStats) float64 { return float64(s.Lost) }},
	{name: "ferry_audit_sink_failures_total", kind: "counter", help: "Failed delivery attempts to a sink.",
		sink: func(s *auditlog.SinkStats) float64 { return float64(s.Failures) }},
	{name: "ferry_audit_sink_last_success_timestamp_seconds", kind: "gauge", help: "When a sink last accepted a batch (0: never).",
		sink: func(s *auditlog.SinkStats) float64 {
			if s.LastSuccess.IsZero() {
				return 0
			}
			return float64(s.LastSuccess.UnixNano()) / 1e9
		}},
}

// auditStats is implemented by an Auditor that keeps delivery counters
// (auditlog.Emitter); a test's recorder has none to export.
type auditStats interface {
	Stats() []auditlog.StreamStats
	Failures() uint64
}

// writeAuditMetrics appends the audit families to rc's body in the
// Prometheus text format (0.0.4), when a has them.
func writeAuditMetrics(rc *fasthttp.RequestCtx, a Auditor) {
	em, ok := a.(auditStats)
	if !ok {
		return
	}
	stats := em.Stats()
	line := make([]byte, 0, 256)
	for i := range auditFamilies {
		f := &auditFamilies[i]
		line = appendFamilyHeader(line[:0], f.name, f.help, f.kind)
		_, _ = rc.Write(line)
		for j := range stats {
			st := &stats[j]
			if f.stream != nil {
				line = appendSample(line[:0], f.name, st.Tenant, "", false, f.stream(st))
				_, _ = rc.Write(line)
				continue
			}
			for k := range st.Sinks {
				line = appendSample(line[:0], f.name, st.Tenant, st.Sinks[k].Name, true, f.sink(&st.Sinks[k]))
				_, _ = rc.Write(line)
			}
		}
	}
	const undelivered = "ferry_audit_write_failures_total"
	line = appendFamilyHeader(line[:0], undelivered, "Events that could not be handed to any stream.", "counter")
	line = append(line, undelivered...)
	line = append(line, ' ')
	line = appendValue(line, float64(em.Failures()))
	line = append(line, '\n')
	_, _ = rc.Write(line)
}

func appendFamilyHeader(b []byte, name, help, kind string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, help...) // constant text: nothing to escape
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, kind...)
	return append(b, '\n')
}

// appendSample writes one sample, its labels in name order (sink, tenant)
// as client_golang writes them.
func appendSample(b []byte, name, tenant, sink string, withSink bool, v float64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	if withSink {
		b = append(b, `sink="`...)
		b = appendLabelValue(b, sink)
		b = append(b, `",`...)
	}
	b = append(b, `tenant="`...)
	b = appendLabelValue(b, tenant)
	b = append(b, `"} `...)
	b = appendValue(b, v)
	return append(b, '\n')
}

// appendLabelValue escapes a label value as the text format requires.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendValue(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }
