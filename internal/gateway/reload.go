package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/ferryhealth/ferry/proxy"
	"github.com/ferryhealth/ferry/proxy/config"
)

// Reload reads the config file again (SIGHUP) and, if the whole of it is
// valid and reloadable, swaps it in; otherwise the running configuration
// keeps serving, and every problem is logged with its JSON path and
// counted in ferry_config_reloads_total{outcome="failure"}.
//
// A tenant's runtime is built from the new config by the same
// constructors as at start, and what did not change is carried over by
// comparison: an unchanged tenant keeps its secrets provider and cache,
// its audit key and its audit stream (the same chain, the next seq); an
// unchanged connection keeps its guard (breaker, bulkhead, pacer) and
// source; an unchanged client its inbound limit. Connections new to a
// plugin are configured in the running process. Requests in flight finish
// under the configuration they started with. A removed tenant's audit
// stream ends once those requests are done: a final checkpoint, its
// queues flushed. docs/operations.md is the operator's account.
func (g *Gateway) Reload(ctx context.Context) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	fail := func(probs []config.Problem) error {
		for _, p := range probs {
			g.logger.Error("reload refused: the running configuration keeps serving", "path", p.Path, "problem", p.Message)
		}
		g.server.CountReload(false)
		return fmt.Errorf("gateway: reload refused: %d problem(s)", len(probs))
	}
	data, err := os.ReadFile(g.configPath)
	if err != nil {
		return fail([]config.Problem{{Path: "$", Message: "cannot read config: " + err.Error()}})
	}
	next, probs := config.Load(g.configPath)
	if len(probs) > 0 {
		return fail(probs)
	}
	if probs := config.ReloadProblems(g.cfg, next); len(probs) > 0 {
		return fail(probs)
	}
	hash := config.Hash(data)
	providers, err := NewTenantSecrets(ctx, next, g.logger)
	if err != nil {
		return fail([]config.Problem{{Path: "$.tenants", Message: err.Error()}})
	}
	// Connections new to a plugin are configured before the swap, so the
	// first request to one finds it ready; a connection configured for a
	// swap that is then refused is never routed to.
	if g.Host != nil {
		specs, err := pluginSpecs(next)
		if err != nil {
			return fail([]config.Problem{{Path: "$.plugins", Message: err.Error()}})
		}
		for _, s := range specs {
			if err := g.Host.SetConnections(ctx, s.Kind, s.Connections); err != nil {
				return fail([]config.Problem{{Path: "$.connections", Message: err.Error()}})
			}
		}
		// A plugin whose binary, checksum or sandbox changed is replaced:
		// the new process starts beside the old one, which finishes its
		// calls first.
		for _, s := range specs {
			if o := g.cfg.Plugin(s.Kind); o != nil && !reflect.DeepEqual(*o, *next.Plugin(s.Kind)) {
				if err := g.Host.Replace(s.Kind, s.Path, s.SHA256, s.Sandbox); err != nil {
					return fail([]config.Problem{{Path: "$.plugins", Message: err.Error()}})
				}
				g.logger.Info("plugin binary changed: replacing the process", "plugin", s.Kind)
			}
		}
	}
	res, err := g.server.Reload(ctx, proxy.ReloadOptions{Config: next, ConfigHash: hash, TenantSecrets: providers})
	if err != nil {
		return fail([]config.Problem{{Path: "$", Message: err.Error()}})
	}
	g.audit.SetConfigHash(hash)
	g.trail.reconfigure(next, res.Providers)

	// The audit streams: a new tenant's is added now; a removed tenant's,
	// or a changed one whose audit settings changed, ends once the
	// requests served under the old configuration have ended.
	var restream []*config.Tenant
	for _, id := range res.Replaced {
		if o, n := g.cfg.Tenant(id), next.Tenant(id); o == nil || n == nil || !reflect.DeepEqual(o.Audit, n.Audit) || o.HomeRegion != n.HomeRegion {
			restream = append(restream, n)
		}
	}
	for _, id := range res.Added {
		g.addStream(next.Tenant(id))
	}
	removed := res.Removed
	g.retries.Go(func() {
		select {
		case <-res.Drained():
		case <-g.retryCtx.Done():
			return // draining: Close ends every stream
		}
		for _, id := range removed {
			g.removeStream(id)
		}
		for _, t := range restream {
			g.removeStream(t.ID)
			g.addStream(t)
		}
	})
	g.cfg = next
	g.server.CountReload(true)
	g.logger.Info("configuration reloaded", "generation", res.Generation, "config_hash", hash,
		"tenants_added", len(res.Added), "tenants_removed", len(res.Removed), "tenants_changed", len(res.Replaced))
	return nil
}

// addStream gives tenant t its audit stream, or retries in the background
// while it cannot be built (the tenant's requests are refused meanwhile).
func (g *Gateway) addStream(t *config.Tenant) {
	ctx, cancel := context.WithTimeout(g.retryCtx, 10*time.Second)
	so, err := g.trail.tenantStream(ctx, t)
	cancel()
	if err == nil {
		if err = g.audit.AddTenant(t.ID, so); err == nil {
			return
		}
		closeSinks(auditOptions(t.ID, so))
	}
	g.logger.Error("tenant degraded: its requests are refused until its audit trail can be set up", "tenant", t.ID, "err", err)
	g.retries.Go(func() { g.trail.retry(g.retryCtx, g.audit, t, g.logger) })
}

// removeStream ends a tenant's audit stream: a final checkpoint, its
// queues flushed within the drain grace.
func (g *Gateway) removeStream(id string) {
	grace := g.drain.Grace.D()
	ctx, cancel := context.WithTimeout(context.Background(), max(grace, time.Second))
	defer cancel()
	if err := g.audit.RemoveTenant(ctx, id); err != nil && !errors.Is(err, context.Canceled) {
		g.logger.Error("removed tenant's audit trail not fully delivered", "tenant", id, "err", err)
	}
}
