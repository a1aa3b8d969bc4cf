package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/proxy/config"
)

// TestMetricsExposition: /metrics parses as the text format, with the
// registry's families, the breaker state of every connection and the audit
// families of every stream, labels in name order.
func TestMetricsExposition(t *testing.T) {
	src := newFaultSource(t)
	src.set("ok")
	cfgJSON := inProcessConfig(src, nil)
	e := startAuditedGateway(t, cfgJSON, nil, discardTrail(t, cfgJSON))
	if r := e.get(t, "/v1/demo/patients/p1", 2*time.Second); r.status != 200 {
		t.Fatalf("read: %d %s", r.status, r.code)
	}
	mfs := scrapeMetrics(t, e.srv)
	for _, name := range []string{"ferry_requests_total", "ferry_connection_in_flight", "ferry_connection_breaker_state",
		"ferry_audit_events_total", "ferry_audit_write_failures_total", "go_goroutines"} {
		if mfs[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if n := metricValue(t, e.srv, "ferry_connection_breaker_state", "demo"); n != 0 {
		t.Errorf("breaker state %v", n)
	}
	if n := metricLabels(t, e.srv, "ferry_requests_total", "connection", "demo", "status", "200"); n != 1 {
		t.Errorf("ferry_requests_total{connection=demo,status=200} = %v", n)
	}
	up := mfs["ferry_upstream_duration_seconds"]
	if up == nil || len(up.GetMetric()) != 1 {
		t.Fatalf("ferry_upstream_duration_seconds: %v", up)
	}
	h := up.GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() <= 0 || len(h.GetBucket()) != len(upstreamBuckets)+1 ||
		h.GetBucket()[len(upstreamBuckets)-1].GetCumulativeCount() != 1 {
		t.Errorf("upstream histogram: %v", h)
	}
	found := false
	for _, m := range mfs["ferry_audit_events_total"].GetMetric() {
		if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetName() == "tenant" && m.GetCounter() != nil {
			found = true
		}
	}
	if !found {
		t.Error("no ferry_audit_events_total{tenant=...}")
	}
}

func TestUpstreamHistBuckets(t *testing.T) {
	var h upstreamHist
	for _, v := range []float64{0.0005, 0.001, 0.002, 31} {
		h.observe(v)
	}
	if h.counts[0].Load() != 2 || h.counts[1].Load() != 1 || h.counts[len(upstreamBuckets)].Load() != 1 || h.count.Load() != 4 {
		t.Errorf("counts %v, count %d", &h.counts, h.count.Load())
	}
}

func TestAppendLabelValue(t *testing.T) {
	if got := string(appendLabelValue(nil, "a\\b\"c\nd")); got != `a\\b\"c\nd` {
		t.Errorf("got %s", got)
	}
}

// discardTrail is an audit trail with a stream for every tenant of cfg and
// for tenantless events, each delivered to a sink that discards it: its
// counters are what /metrics exports.
func discardTrail(t *testing.T, cfgJSON []byte) *auditlog.Emitter {
	t.Helper()
	cfg, probs := config.Parse(cfgJSON, "")
	if len(probs) > 0 {
		t.Fatalf("config: %v", probs)
	}
	stream := func() auditlog.StreamOptions {
		return auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{{Sink: discardSink{}}}}
	}
	def := stream()
	o := auditlog.Options{Default: &def, Tenants: map[string]auditlog.StreamOptions{}}
	for _, tn := range cfg.Tenants {
		o.Tenants[tn.ID] = stream()
	}
	em, err := auditlog.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close(context.Background()) })
	return em
}
