package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/proxy/authz"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/proxy/pseudonym"
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
	// cfg is the tenant's configuration, which a reload compares.
	cfg config.Tenant
	// retrying says a goroutine is reading the key again; removed, that a
	// reload dropped the entry, so it may stop.
	retrying, removed atomic.Bool
	// writeKey is derived from the audit key for the idempotency of
	// writes (idempotency.go); stored before refs, so a tenant whose refs
	// are set has it.
	writeKey atomic.Pointer[[]byte]
}

// newTenants makes an entry for every tenant; the audit keys are read
// afterwards (readTenantKeys), so a tenant whose key cannot be read
// degrades alone.
func newTenants(c *config.Config, providers map[string]secrets.Provider) (map[string]*tenantEntry, error) {
	out := make(map[string]*tenantEntry, len(c.Tenants))
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if !c.ServedHere(t) {
			out[t.ID] = &tenantEntry{id: t.ID, home: t.HomeRegion, cfg: *t}
			continue
		}
		sp := providers[t.ID]
		if sp == nil {
			return nil, fmt.Errorf("tenant %q: no secrets provider", t.ID)
		}
		out[t.ID] = &tenantEntry{id: t.ID, home: t.HomeRegion, served: true, keyRef: t.Audit.KeyRef, provider: sp, cfg: *t}
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
	wk := deriveWriteKey(key.Reveal())
	t.writeKey.Store(&wk)
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

// newConnection builds a connection's guard, and its source when its
// tenant is served here. A tenant's sources resolve credentials with the
// tenant's provider and no other's.
func (s *Server) newConnection(c *config.Config, cn *config.Connection, t *tenantEntry) (*connEntry, error) {
	e := &connEntry{cfg: cn, kind: cn.Connector, guard: guard.New(cn, s.metrics.guards, s.clock),
		maxTimeout: cn.Limits.WithDefaults(cn.Timeout).MaxTimeout.D()}
	if t == nil || !t.served {
		return e, nil
	}
	src, err := source.New(cn, source.Options{Clients: s.sources, Secrets: t.provider, DevMode: c.DevMode, Log: s.log})
	if err != nil {
		return nil, err
	}
	e.source = src
	return e, nil
}

type clientEntry struct {
	cfg     *config.Client
	id      string
	tenant  string
	digest  [sha256.Size]byte
	allowed map[string]bool
	scopes  map[string]bool
	limiter *tokenBucket // nil: no inbound limit
	// grant is the client's smart_scopes; nil when it has none.
	grant *authz.Grant
	// policy is the client's minimum-necessary policy; nil when it has
	// none. purpose is what it must declare; nil: nothing.
	policy  *authz.Policy
	purpose *config.PurposeOfUsePolicy
	// pseudo seals and opens the client's pseudonyms; nil when it sees
	// real ids. pseudoIDs is what becomes of identifier values.
	pseudo    *pseudonym.Sealer
	pseudoIDs pseudonym.Identifiers
}

// clientKeys finds a client by the SHA-256 of its API key.
type clientKeys map[[sha256.Size]byte]*clientEntry

// tokenClients finds a client by its tenant and OAuth client id.
type tokenClients map[[2]string]*clientEntry

// clientIndex is the clients of one configuration: by API key digest, by
// OAuth client id, and by id.
type clientIndex struct {
	keys    clientKeys
	byToken tokenClients
	byID    map[string]*clientEntry
}

// newClients indexes the clients. A client of old whose configuration is
// unchanged keeps its entry, and so its inbound limit's tokens; fresh are
// the entries made anew, whose pseudonym sealers the caller derives.
func newClients(clients []config.Client, old map[string]*clientEntry) (idx clientIndex, fresh []*clientEntry, err error) {
	idx = clientIndex{keys: make(clientKeys, len(clients)), byToken: tokenClients{}, byID: make(map[string]*clientEntry, len(clients))}
	for _, c := range clients {
		e := old[c.ID]
		if e == nil || !reflect.DeepEqual(*e.cfg, c) {
			if e, err = newClient(c); err != nil {
				return clientIndex{}, nil, err
			}
			fresh = append(fresh, e)
		}
		idx.byID[c.ID] = e
		if c.OAuthClientID != "" {
			idx.byToken[[2]string{c.Tenant, c.OAuthClientID}] = e
		}
		if c.APIKeySHA256 != "" {
			idx.keys[e.digest] = e
		}
	}
	return idx, fresh, nil
}

func newClient(c config.Client) (*clientEntry, error) {
	e := &clientEntry{cfg: &c, id: c.ID, tenant: c.Tenant, allowed: map[string]bool{}, scopes: map[string]bool{}}
	for _, id := range c.Connections {
		e.allowed[id] = true
	}
	for _, sc := range c.Scopes {
		e.scopes[sc] = true
	}
	if c.RateLimit != nil {
		e.limiter = newTokenBucket(c.RateLimit.RequestsPerSecond, c.RateLimit.BurstOrDefault())
	}
	if len(c.SMARTScopes) > 0 {
		g := authz.NewGrant(c.SMARTScopes)
		e.grant = &g
	}
	if p := c.Policy; p != nil {
		rules := map[string]authz.FieldRule{}
		for r, f := range p.Fields {
			rules[r] = authz.FieldRule{Allow: f.Allow, Deny: f.Deny}
		}
		e.policy = authz.NewPolicy(p.Resources, p.Operations, rules)
		e.purpose = p.PurposeOfUse
	}
	if c.APIKeySHA256 != "" {
		if _, err := hex.Decode(e.digest[:], []byte(c.APIKeySHA256)); err != nil {
			return nil, fmt.Errorf("client %q: api_key_sha256: %w", c.ID, err)
		}
	}
	return e, nil
}

// cursorKeys resolves the config's cursor keys. Cursor keys are the
// operator's, not a tenant's, so they resolve with the env provider (a
// Kubernetes secret in the environment). In dev_mode without a cursor
// section, a random key serves this process alone. Pseudonyms are derived
// from the same keys.
func cursorKeys(ctx context.Context, c *config.Config) ([]cursor.Key, error) {
	if c.Cursor == nil {
		var k [32]byte
		_, _ = rand.Read(k[:])
		return []cursor.Key{{ID: "dev", Secret: k[:]}}, nil
	}
	keys := make([]cursor.Key, 0, len(c.Cursor.Keys))
	for _, k := range c.Cursor.Keys {
		v, err := (secrets.Env{}).Resolve(ctx, k.SecretRef)
		if err != nil {
			return nil, fmt.Errorf("cursor key %q: %w", k.ID, err)
		}
		keys = append(keys, cursor.Key{ID: k.ID, Secret: v.Reveal()})
	}
	return keys, nil
}

// newCursorSealer builds the cursor sealer from the resolved keys.
func newCursorSealer(c *config.Config, keys []cursor.Key) (*cursor.Sealer, error) {
	ttl := config.DefaultCursorTTL
	if c.Cursor != nil {
		ttl = c.Cursor.TTL.D()
	}
	s, err := cursor.New(keys, ttl)
	if err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	return s, nil
}

// addPseudonyms derives the sealer of every client configured for
// pseudonyms from the operator's keys.
func addPseudonyms(keys []cursor.Key, clients []*clientEntry) error {
	pk := make([]pseudonym.Key, len(keys))
	for i, k := range keys {
		pk[i] = pseudonym.Key{ID: k.ID, Secret: k.Secret}
	}
	var root *pseudonym.Keys
	for _, e := range clients {
		cl := e.cfg
		if cl.Policy == nil || cl.Policy.Pseudonyms == nil {
			continue
		}
		var err error
		if root == nil {
			if root, err = pseudonym.NewKeys(pk); err != nil {
				return err
			}
		}
		if e.pseudo, err = root.ForClient(cl.ID); err != nil {
			return fmt.Errorf("client %q: %w", cl.ID, err)
		}
		if cl.Policy.Pseudonyms.Identifiers == config.IdentifiersTokenize {
			e.pseudoIDs = pseudonym.TokenizeIdentifiers
		}
	}
	return nil
}
