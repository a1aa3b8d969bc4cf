package proxy

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/identity"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/residency"
)

// tables are one configuration as the pipeline reads it: the tenants,
// connections and clients, each entry holding what a request needs of it.
// The server holds the current tables behind an atomic pointer; a request
// takes them once, at its start, and is served under them to its end.
type tables struct {
	cfg        *config.Config
	hash       string
	generation uint64
	tenants    map[string]*tenantEntry
	// connections by id; byKind lists those each connector kind (plugin)
	// serves here.
	connections map[string]*connEntry
	byKind      map[string][]*connEntry
	keys        clientKeys
	// tokenClients finds the client an access token names; clients are
	// all of them, by id, which a reload compares.
	tokenClients tokenClients
	clients      map[string]*clientEntry
	// verifier checks access tokens against the tenants' issuers; a
	// reload that leaves every tenant's issuers as they were keeps it,
	// and with it the key sets it fetched.
	verifier *identity.Verifier
	// mode is what this node does with a request for a tenant it does not
	// serve; regions are the deployment's other regions.
	mode    residency.Mode
	regions map[string]*homeRegion
	// inflight counts the requests being served under these tables, so a
	// reload knows when the last one of a removed tenant has ended.
	inflight atomic.Int64
}

// newTables builds the tables of c. With old (a reload), what has not
// changed is carried over rather than rebuilt, so it keeps its state: a
// tenant whose configuration is equal keeps its entry (its secrets
// provider and cache, its audit key), a connection equal and of such a
// tenant keeps its entry (its guard: breaker, bulkhead, pacer; its
// source), a client equal keeps its inbound limit. providers are the
// secrets providers of c's tenants; those of carried tenants are ignored.
func (s *Server) newTables(c *config.Config, hash string, providers map[string]secrets.Provider, old *tables) (*tables, error) {
	t := &tables{cfg: c, hash: hash, mode: c.MisdirectedMode(), byKind: map[string][]*connEntry{}}
	var err error
	if t.regions, err = newHomeRegions(c); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if old != nil && reflect.DeepEqual(old.cfg.Regions, c.Regions) && old.cfg.Misdirected == c.Misdirected {
		t.regions = old.regions
	}
	if t.tenants, err = newTenants(c, providers); err != nil {
		return nil, err
	}
	if old != nil {
		for id, te := range t.tenants {
			if o := old.tenants[id]; o != nil && reflect.DeepEqual(o.cfg, te.cfg) {
				t.tenants[id] = o
			}
		}
	}
	t.connections = make(map[string]*connEntry, len(c.Connections))
	for i := range c.Connections {
		cn := &c.Connections[i]
		te := t.tenants[cn.Tenant]
		var e *connEntry
		if old != nil {
			if o := old.connections[cn.ID]; o != nil && reflect.DeepEqual(*o.cfg, *cn) && old.tenants[cn.Tenant] == te {
				e = o
			}
		}
		if e == nil {
			if e, err = s.newConnection(c, cn, te); err != nil {
				return nil, err
			}
		}
		t.connections[cn.ID] = e
		if e.source != nil {
			t.byKind[cn.Connector] = append(t.byKind[cn.Connector], e)
		}
	}
	var oldClients map[string]*clientEntry
	if old != nil {
		oldClients = old.clients
	}
	idx, fresh, err := newClients(c.Clients, oldClients)
	if err != nil {
		return nil, err
	}
	t.keys, t.tokenClients, t.clients = idx.keys, idx.byToken, idx.byID
	if err := addPseudonyms(s.ckeys, fresh); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if old != nil && reflect.DeepEqual(issuersOf(old.cfg), issuersOf(c)) {
		t.verifier = old.verifier
	} else if t.verifier, err = identity.New(c, identity.Options{HTTP: source.KeySetClient, Clock: s.clock, Grant: tokenGrant}); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return t, nil
}

// issuersOf is every tenant's issuers, which the token verifier is built
// from.
func issuersOf(c *config.Config) map[string][]config.Issuer {
	out := make(map[string][]config.Issuer, len(c.Tenants))
	for _, t := range c.Tenants {
		out[t.ID] = t.Issuers
	}
	return out
}

// ReloadOptions is a validated new configuration for Reload.
type ReloadOptions struct {
	Config     *config.Config
	ConfigHash string
	// TenantSecrets are the new configuration's tenants' providers
	// (NewTenantSecrets); a tenant that did not change keeps its own.
	TenantSecrets map[string]secrets.Provider
}

// ReloadResult says what a reload changed.
type ReloadResult struct {
	Generation uint64
	// Added and Removed are tenants; Replaced changed configuration and
	// got a new entry (a new secrets provider, its audit key read again).
	Added, Removed, Replaced []string
	// Providers are the secrets providers the new tables use, by tenant
	// (the carried ones included), for the audit trail's streams.
	Providers map[string]secrets.Provider
	// drained is closed once no request is being served under the old
	// tables.
	drained <-chan struct{}
}

// Drained is closed once every request that started under the previous
// configuration has ended (or maxWait passed): a removed tenant's audit
// stream may be closed then without losing an event.
func (r *ReloadResult) Drained() <-chan struct{} { return r.drained }

// Reload swaps in a new configuration: requests that started before it go
// on under the old tables; every request after it is served under the new
// ones. What a reload cannot change (the node, the limits, the cursor
// keys, the plugins' catalog) the caller has refused beforehand
// (config.ReloadProblems). The new tenants' audit keys are read before
// the swap; one that cannot be read is degraded alone and retried.
func (s *Server) Reload(ctx context.Context, o ReloadOptions) (*ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.tab.Load()
	tab, err := s.newTables(o.Config, o.ConfigHash, o.TenantSecrets, old)
	if err != nil {
		return nil, err
	}
	tab.generation = old.generation + 1
	s.readTenantKeys(ctx, tab)
	res := &ReloadResult{Generation: tab.generation, Providers: map[string]secrets.Provider{}}
	for id, te := range tab.tenants {
		if te.provider != nil {
			res.Providers[id] = te.provider
		}
		switch o := old.tenants[id]; {
		case o == nil:
			res.Added = append(res.Added, id)
		case o != te:
			res.Replaced = append(res.Replaced, id)
			o.removed.Store(true)
		}
	}
	for id, o := range old.tenants {
		if tab.tenants[id] == nil {
			res.Removed = append(res.Removed, id)
			o.removed.Store(true)
		}
	}
	s.tab.Store(tab)
	s.metrics.generation.Store(tab.generation)
	drained := make(chan struct{})
	res.drained = drained
	go func() {
		defer close(drained)
		limit := time.Now().Add(2*config.MaxConnectionTimeout + 10*time.Second)
		for old.inflight.Load() > 0 && time.Now().Before(limit) {
			time.Sleep(20 * time.Millisecond)
		}
		if old.verifier != tab.verifier {
			old.verifier.Close()
		}
	}()
	return res, nil
}

// CountReload counts a reload's outcome in ferry_config_reloads_total.
func (s *Server) CountReload(ok bool) {
	outcome := "failure"
	if ok {
		outcome = "success"
	}
	s.metrics.reloads.WithLabelValues(outcome).Inc()
}
