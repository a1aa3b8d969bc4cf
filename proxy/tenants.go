package proxy

import (
	"context"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/secrets/awssm"
)

// One tenant never takes the others down. A tenant whose audit key cannot
// be read at start (its role cannot be assumed, its secret is gone, its
// account unreachable) does not fail the boot: its requests are refused
// with 503 credentials_unavailable while the others serve, and the key is
// read again in the background, with backoff, until it can be.

// readTenantKeys reads every served tenant's audit key once, and keeps
// trying those that failed in the background until the server shuts down.
func (s *Server) readTenantKeys(ctx context.Context, tab *tables) {
	for _, t := range tab.tenants {
		if !t.served || t.keyed() || t.retrying.Swap(true) {
			continue
		}
		if err := t.readKey(ctx); err != nil {
			s.log.Error("tenant degraded: its requests are refused until its audit key can be read", "tenant", t.id, "err", err)
			s.background.Add(1)
			go s.retryTenantKey(t)
			continue
		}
		t.retrying.Store(false)
	}
}

// retryTenantKey reads t's audit key again, waiting the node's tenant_retry
// backoff between attempts, until it succeeds or the server shuts down.
func (s *Server) retryTenantKey(t *tenantEntry) {
	defer s.background.Done()
	var wait time.Duration
	for {
		wait = s.cfg.Node.TenantRetry.Next(wait)
		tm := s.clock.NewTimer(wait)
		select {
		case <-s.baseCtx.Done():
			tm.Stop()
			return
		case <-tm.C():
		}
		if t.removed.Load() {
			return // a reload removed or replaced the tenant
		}
		ctx, cancel := context.WithTimeout(s.baseCtx, max(wait, 10*time.Second))
		err := t.readKey(ctx)
		cancel()
		if err == nil {
			s.log.Info("tenant recovered: its audit key was read", "tenant", t.id)
			return
		}
		s.log.Warn("tenant still degraded", "tenant", t.id, "err", err, "retry_in", s.cfg.Node.TenantRetry.Next(wait).String())
	}
}

// tenantAuditor is implemented by an Auditor that knows which tenants have
// an audit trail (auditlog.Emitter): one whose sinks could not be set up
// has none until they can.
type tenantAuditor interface{ HasTenant(tenant string) bool }

// tenantReady reports whether t's requests can be served: its audit key is
// read and its audit trail exists.
func (s *Server) tenantReady(t *tenantEntry) bool {
	if !t.keyed() {
		return false
	}
	if ta, ok := s.audit.(tenantAuditor); ok {
		return ta.HasTenant(t.id)
	}
	return true
}

// secretStats is implemented by a tenant's secrets provider that reads a
// remote store (awssm.Provider).
type secretStats interface{ Stats() awssm.Stats }

// writeTenantMetrics appends, for each tenant this node serves, whether it
// is ready, and its credential refreshes: how many succeeded and failed,
// and when the last one succeeded.
func (s *Server) writeTenantMetrics(rc *fasthttp.RequestCtx) {
	tenants := s.tab.Load().tenants
	ids := make([]string, 0, len(tenants))
	for id, t := range tenants {
		if t.served {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	line := make([]byte, 0, 256)
	sample := func(name, tenant, outcome string, v float64) {
		line = append(line[:0], name...)
		line = append(line, '{')
		if outcome != "" {
			line = append(line, `outcome="`...)
			line = append(line, outcome...)
			line = append(line, `",`...)
		}
		line = append(line, `tenant="`...)
		line = appendLabelValue(line, tenant)
		line = append(line, `"} `...)
		line = appendValue(line, v)
		line = append(line, '\n')
		_, _ = rc.Write(line)
	}
	header := func(name, help, kind string) { _, _ = rc.Write(appendFamilyHeader(line[:0], name, help, kind)) }

	const ready = "ferry_tenant_ready"
	header(ready, "1 when the tenant's requests can be served (its audit key read, its audit trail set up), 0 while it is degraded and retried.", "gauge")
	for _, id := range ids {
		v := 0.0
		if s.tenantReady(tenants[id]) {
			v = 1
		}
		sample(ready, id, "", v)
	}
	const refreshes = "ferry_tenant_credential_refreshes_total"
	const last = "ferry_tenant_credential_last_refresh_timestamp_seconds"
	header(refreshes, "Reads of a tenant's secrets from its secret store (assuming its role as needed), by outcome.", "counter")
	var stats []awssm.Stats
	var with []string
	for _, id := range ids {
		if ss, ok := tenants[id].provider.(secretStats); ok {
			st := ss.Stats()
			stats, with = append(stats, st), append(with, id)
			sample(refreshes, id, "failure", float64(st.FetchErrors))
			sample(refreshes, id, "success", float64(st.Refreshes))
		}
	}
	header(last, "When a read of the tenant's secrets last succeeded (Unix seconds); 0 if never.", "gauge")
	for i, id := range with {
		v := 0.0
		if !stats[i].LastRefresh.IsZero() {
			v = float64(stats[i].LastRefresh.UnixNano()) / 1e9
		}
		sample(last, id, "", v)
	}
}
