package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	// refs computes patient references under the tenant's audit key.
	refs *auditlog.PatientRefs
	// writeKey is derived from the audit key for the idempotency of writes
	// (idempotency.go).
	writeKey []byte
}

// newTenants resolves the audit key of every tenant this node serves, with
// the tenant's own secrets provider.
func newTenants(ctx context.Context, c *config.Config, providers map[string]secrets.Provider) (map[string]*tenantEntry, error) {
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
		key, err := sp.Resolve(ctx, t.Audit.KeyRef)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: audit key: %w", t.ID, err)
		}
		if len(key.Reveal()) < auditlog.MinAuditKeyLen {
			return nil, fmt.Errorf("tenant %q: audit key must be at least 32 bytes", t.ID)
		}
		out[t.ID] = &tenantEntry{id: t.ID, home: t.HomeRegion, served: true, refs: auditlog.NewPatientRefs(key.Reveal()),
			writeKey: deriveWriteKey(key.Reveal())}
	}
	return out, nil
}

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

func newClients(clients []config.Client) (clientKeys, tokenClients, []*clientEntry, error) {
	keys := make(clientKeys, len(clients))
	byToken := tokenClients{}
	all := make([]*clientEntry, 0, len(clients))
	for _, c := range clients {
		e := &clientEntry{id: c.ID, tenant: c.Tenant, allowed: map[string]bool{}, scopes: map[string]bool{}}
		all = append(all, e)
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
		if c.OAuthClientID != "" {
			byToken[[2]string{c.Tenant, c.OAuthClientID}] = e
		}
		if c.APIKeySHA256 == "" {
			continue
		}
		if _, err := hex.Decode(e.digest[:], []byte(c.APIKeySHA256)); err != nil {
			return nil, nil, nil, fmt.Errorf("client %q: api_key_sha256: %w", c.ID, err)
		}
		keys[e.digest] = e
	}
	return keys, byToken, all, nil
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
func addPseudonyms(c *config.Config, keys []cursor.Key, clients []*clientEntry) error {
	pk := make([]pseudonym.Key, len(keys))
	for i, k := range keys {
		pk[i] = pseudonym.Key{ID: k.ID, Secret: k.Secret}
	}
	var root *pseudonym.Keys
	for i, cl := range c.Clients {
		if cl.Policy == nil || cl.Policy.Pseudonyms == nil {
			continue
		}
		var err error
		if root == nil {
			if root, err = pseudonym.NewKeys(pk); err != nil {
				return err
			}
		}
		e := clients[i]
		if e.pseudo, err = root.ForClient(cl.ID); err != nil {
			return fmt.Errorf("client %q: %w", cl.ID, err)
		}
		if cl.Policy.Pseudonyms.Identifiers == config.IdentifiersTokenize {
			e.pseudoIDs = pseudonym.TokenizeIdentifiers
		}
	}
	return nil
}
