package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/source"
)

// The server's tables, built once by New from the config: tenants,
// connections and clients, each entry holding what a request needs of it.

type tenantEntry struct {
	id string
	// home is the tenant's home region; served says this node serves it.
	// A tenant this node does not serve has no audit key here, and its
	// connections no source: its requests go to its home region.
	home   string
	served bool
	// refs computes patient references under the tenant's audit key; nil
	// until the key has been read (tenantKeys), and meanwhile the tenant's
	// requests are refused with 503 credentials_unavailable.
	refs atomic.Pointer[auditlog.PatientRefs]
	// keyRef and provider read the audit key; nil provider: the tenant is
	// not served here.
	keyRef   string
	provider secrets.Provider
}

// newTenants makes an entry for every tenant; the audit keys are read
// afterwards (readTenantKeys), so a tenant whose key cannot be read
// degrades alone.
func newTenants(c *config.Config, providers map[string]secrets.Provider) (map[string]*tenantEntry, error) {
	out := make(map[string]*tenantEntry, len(c.Tenants))
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if !c.ServedHere(t) {
			out[t.ID] = &tenantEntry{id: t.ID, home: t.HomeRegion}
			continue
		}
		sp := providers[t.ID]
		if sp == nil {
			return nil, fmt.Errorf("tenant %q: no secrets provider", t.ID)
		}
		out[t.ID] = &tenantEntry{id: t.ID, home: t.HomeRegion, served: true, keyRef: t.Audit.KeyRef, provider: sp}
	}
	return out, nil
}

// readKey reads the tenant's audit key with its own provider.
func (t *tenantEntry) readKey(ctx context.Context) error {
	key, err := t.provider.Resolve(ctx, t.keyRef)
	if err != nil {
		return fmt.Errorf("tenant %q: audit key: %w", t.id, err)
	}
	if len(key.Reveal()) < auditlog.MinAuditKeyLen {
		return fmt.Errorf("tenant %q: audit key must be at least 32 bytes", t.id)
	}
	t.refs.Store(auditlog.NewPatientRefs(key.Reveal()))
	return nil
}

// keyed reports whether the tenant's audit key has been read.
func (t *tenantEntry) keyed() bool { return t.refs.Load() != nil }

type connEntry struct {
	cfg  *config.Connection
	kind string
	// guard admits the connection's requests and paces its source calls:
	// the one way to it.
	guard *guard.Guard
	// source is nil for a connection of a tenant served in another region.
	source source.Source
	// maxTimeout caps a deadline a client asks for (limits.max_timeout).
	maxTimeout time.Duration
}

// addConnections builds every connection's guard, and the source of those
// whose tenant this node serves. A tenant's sources resolve credentials
// with the tenant's provider and no other's.
func (s *Server) addConnections(providers map[string]secrets.Provider) error {
	s.connections = make(map[string]*connEntry, len(s.cfg.Connections))
	s.byKind = map[string][]*connEntry{}
	for i := range s.cfg.Connections {
		cn := &s.cfg.Connections[i]
		e := &connEntry{cfg: cn, kind: cn.Connector, guard: guard.New(cn, s.metrics.guards, s.clock),
			maxTimeout: cn.Limits.WithDefaults(cn.Timeout).MaxTimeout.D()}
		s.connections[cn.ID] = e
		if t := s.tenants[cn.Tenant]; t == nil || !t.served {
			continue
		}
		src, err := source.New(cn, source.Options{Clients: s.sources, Secrets: providers[cn.Tenant], DevMode: s.cfg.DevMode, Log: s.log})
		if err != nil {
			return err
		}
		e.source = src
		s.byKind[cn.Connector] = append(s.byKind[cn.Connector], e)
	}
	return nil
}

type clientEntry struct {
	id      string
	tenant  string
	digest  [sha256.Size]byte
	allowed map[string]bool
	scopes  map[string]bool
	limiter *tokenBucket // nil: no inbound limit
}

// clientKeys finds a client by the SHA-256 of its API key.
type clientKeys map[[sha256.Size]byte]*clientEntry

func newClientKeys(clients []config.Client) (clientKeys, error) {
	out := make(clientKeys, len(clients))
	for _, c := range clients {
		var d [sha256.Size]byte
		if _, err := hex.Decode(d[:], []byte(c.APIKeySHA256)); err != nil {
			return nil, fmt.Errorf("client %q: api_key_sha256: %w", c.ID, err)
		}
		e := &clientEntry{id: c.ID, tenant: c.Tenant, digest: d, allowed: map[string]bool{}, scopes: map[string]bool{}}
		for _, id := range c.Connections {
			e.allowed[id] = true
		}
		for _, sc := range c.Scopes {
			e.scopes[sc] = true
		}
		if c.RateLimit != nil {
			e.limiter = newTokenBucket(c.RateLimit.RequestsPerSecond, c.RateLimit.BurstOrDefault())
		}
		out[d] = e
	}
	return out, nil
}

// newCursorSealer builds the cursor sealer from the config's keys. Cursor
// keys are the operator's, not a tenant's, so they resolve with the env
// provider (a Kubernetes secret in the environment). In dev_mode without a
// cursor section, a random key serves this process alone.
func newCursorSealer(ctx context.Context, c *config.Config) (*cursor.Sealer, error) {
	if c.Cursor == nil {
		var k [32]byte
		_, _ = rand.Read(k[:])
		return cursor.New([]cursor.Key{{ID: "dev", Secret: k[:]}}, config.DefaultCursorTTL)
	}
	keys := make([]cursor.Key, 0, len(c.Cursor.Keys))
	for _, k := range c.Cursor.Keys {
		v, err := (secrets.Env{}).Resolve(ctx, k.SecretRef)
		if err != nil {
			return nil, fmt.Errorf("cursor key %q: %w", k.ID, err)
		}
		keys = append(keys, cursor.Key{ID: k.ID, Secret: v.Reveal()})
	}
	s, err := cursor.New(keys, c.Cursor.TTL.D())
	if err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	return s, nil
}
