package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/residency"
	"github.com/ferryhealth/ferry/unified"
)

// Version is set at build time with -ldflags.
var Version = "dev"

// Connectors is where the server finds connectors by kind: the plugin host
// in the product, in-process connectors in tests and benchmarks.
type Connectors interface {
	Connector(kind string) (connectors.Connector, bool)
	Metadata(kind string) (*connectors.MetadataResponse, bool)
	Ready() bool
}

// Options are the server's collaborators.
type Options struct {
	Config     *config.Config
	ConfigHash string
	Connectors Connectors
	// TenantSecrets is each tenant's secrets provider, by tenant id, as
	// NewTenantSecrets builds them. A tenant resolves its connections'
	// credentials and its audit key with its own provider only. Nil: built
	// here by NewTenantSecrets with Secrets as the env provider and no AWS
	// credentials, which serves dev_mode's "env" tenants only.
	TenantSecrets map[string]secrets.Provider
	// Secrets is the provider of "env" tenants when TenantSecrets is nil;
	// nil gives secrets.Env{} (config validation refuses "env" outside
	// dev_mode).
	Secrets secrets.Provider
	// Audit receives one event per request.
	Audit  *auditlog.Emitter
	Logger *slog.Logger
}

// Server is the API and admin front.
type Server struct {
	cfg        *config.Config
	configHash string
	conns      Connectors
	audit      *auditlog.Emitter
	log        *slog.Logger
	metrics    *metrics

	cursors     *cursor.Sealer
	keys        map[[sha256.Size]byte]*clientEntry
	connections map[string]*connEntry
	// sources are the HTTP clients of the connections' sources, one per
	// origin and egress policy.
	sources *sourceClients
	// byKind lists the connections each connector kind (plugin) serves.
	byKind  map[string][]*connEntry
	tenants map[string]*tenantEntry
	// mode is what this node does with a request for a tenant it does not
	// serve; regions are the deployment's other regions.
	mode    residency.Mode
	regions map[string]*homeRegion

	baseCtx context.Context
	cancel  context.CancelFunc
	api     *fasthttp.Server
	admin   *fasthttp.Server
}

type clientEntry struct {
	id      string
	tenant  string
	digest  [sha256.Size]byte
	allowed map[string]bool
	scopes  map[string]bool
	limiter *tokenBucket // nil: no inbound limit
}

type connEntry struct {
	cfg    *config.Connection
	kind   string
	source *source
	res    *resilience
}

type tenantEntry struct {
	id string
	// home is the tenant's home region; served says this node serves it.
	// A tenant this node does not serve has no audit key here, and its
	// connections no source: its requests go to its home region.
	home   string
	served bool
	// refs computes patient references under the tenant's audit key.
	refs *auditlog.PatientRefs
}

// New builds a server from a validated config. It resolves each tenant's
// audit key once, at start, with the tenant's own secrets provider, so a
// missing key fails the boot rather than a request.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Audit == nil {
		return nil, errors.New("proxy: an audit emitter is required")
	}
	var err error
	providers := o.TenantSecrets
	if providers == nil {
		providers, err = NewTenantSecrets(o.Config, SecretsOptions{Env: o.Secrets, Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	bctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: o.Config, configHash: o.ConfigHash, conns: o.Connectors, audit: o.Audit, log: o.Logger,
		metrics: newMetrics(), keys: map[[sha256.Size]byte]*clientEntry{},
		connections: map[string]*connEntry{}, byKind: map[string][]*connEntry{}, tenants: map[string]*tenantEntry{},
		baseCtx: bctx, cancel: cancel,
	}
	s.metrics.watchHop(o.Connectors)
	s.mode = o.Config.MisdirectedMode()
	if s.regions, err = newHomeRegions(o.Config); err != nil {
		cancel()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	for i := range o.Config.Tenants {
		t := &o.Config.Tenants[i]
		if !o.Config.ServedHere(t) {
			s.tenants[t.ID] = &tenantEntry{id: t.ID, home: t.HomeRegion}
			continue
		}
		sp := providers[t.ID]
		if sp == nil {
			cancel()
			return nil, fmt.Errorf("tenant %q: no secrets provider", t.ID)
		}
		key, err := sp.Resolve(ctx, t.Audit.KeyRef)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("tenant %q: audit key: %w", t.ID, err)
		}
		if len(key.Reveal()) < auditlog.MinAuditKeyLen {
			cancel()
			return nil, fmt.Errorf("tenant %q: audit key must be at least 32 bytes", t.ID)
		}
		s.tenants[t.ID] = &tenantEntry{id: t.ID, home: t.HomeRegion, served: true, refs: auditlog.NewPatientRefs(key.Reveal())}
	}
	if s.cursors, err = newCursorSealer(ctx, o.Config); err != nil {
		cancel()
		return nil, err
	}
	s.sources = newSourceClients("Ferry/"+Version, o.Config.Limits.MaxUpstreamBodyBytes)
	for i := range o.Config.Connections {
		cn := &o.Config.Connections[i]
		res := newResilience(cn, s.metrics)
		if t := s.tenants[cn.Tenant]; t == nil || !t.served {
			s.connections[cn.ID] = &connEntry{cfg: cn, kind: cn.Connector, res: res}
			continue
		}
		src, err := newSource(cn, providers[cn.Tenant], o.Config.DevMode, s.sources, o.Logger)
		if err != nil {
			cancel()
			return nil, err
		}
		src.res = res
		e := &connEntry{cfg: cn, kind: cn.Connector, source: src, res: res}
		s.connections[cn.ID] = e
		s.byKind[cn.Connector] = append(s.byKind[cn.Connector], e)
	}
	for _, c := range o.Config.Clients {
		var d [sha256.Size]byte
		if _, err := hex.Decode(d[:], []byte(c.APIKeySHA256)); err != nil {
			cancel()
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
		s.keys[d] = e
	}
	s.api = &fasthttp.Server{
		Handler:               s.serveAPI,
		ErrorHandler:          s.serveParseError,
		Name:                  "ferry",
		MaxRequestBodySize:    o.Config.Limits.MaxRequestBodyBytes,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          2*config.MaxConnectionTimeout + 10*time.Second,
		IdleTimeout:           90 * time.Second,
		ReadBufferSize:        8192,
		NoDefaultServerHeader: true,
		// Close idle keep-alive connections on shutdown instead of waiting
		// for clients to drop them.
		CloseOnShutdown: true,
	}
	s.admin = &fasthttp.Server{Handler: s.serveAdmin, Name: "ferry-admin", NoDefaultServerHeader: true,
		ReadTimeout: 10 * time.Second, CloseOnShutdown: true}
	return s, nil
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

// ServeAPI serves the API on ln until Shutdown. tlsConf, when not nil,
// wraps the listener (TLS 1.2 minimum is enforced here).
func (s *Server) ServeAPI(ln net.Listener, tlsConf *tls.Config) error {
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
		if tlsConf.MinVersion < tls.VersionTLS12 {
			tlsConf.MinVersion = tls.VersionTLS12
		}
		ln = tls.NewListener(ln, tlsConf)
	}
	return s.api.Serve(ln)
}

// ServeAdmin serves /healthz, /readyz and /metrics on ln until Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error { return s.admin.Serve(ln) }

// Shutdown stops accepting, lets in-flight requests finish (bounded by ctx)
// and cancels what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	err := errors.Join(s.api.ShutdownWithContext(ctx), s.admin.ShutdownWithContext(ctx))
	s.cancel()
	// Keep-alive connections to sources would otherwise linger until
	// their idle timeout.
	for _, cn := range s.connections {
		if cn.source != nil { // nil: a tenant served in another region
			cn.source.closeIdle()
		}
	}
	s.sources.closeIdle()
	for _, h := range s.regions {
		if h.client != nil {
			h.client.CloseIdleConnections()
		}
	}
	return err
}

// exchange is one API request on its way through the pipeline.
type exchange struct {
	rc        *fasthttp.RequestCtx
	start     time.Time
	requestID string
	route     route
	client    *clientEntry
	conn      *connEntry
	params    map[string]string
	limit     int
	raw       bool
	// fields is the client's field mask, nil for whole records.
	fields []string
	// pageToken is the connector's token for the page asked for, from the
	// client's cursor; empty for a first page.
	pageToken string
	// capab is the manifest entry of the resource: its search parameters are
	// the only names a problem detail may echo when a connector complains.
	capab    connectors.ResourceCapability
	upstream atomic.Int64
	records  int
	status   int
	code     unified.Code

	// deadline is when the request must be answered by: its connection's
	// timeout, or the client's X-Ferry-Timeout within max_timeout, from
	// its arrival. shortened says the client asked for less than the
	// connection's timeout (a timeout then does not count against the
	// source).
	deadline  time.Time
	shortened bool
	// up is what the host transport saw of the source.
	up upstreamRecord
	// admission is the request's hold on its connection (a bulkhead slot,
	// a breaker outcome owed), settled when the pipeline ends.
	admission admission
	// hostRejected: the request was refused by the host's own limits
	// (breaker, bulkhead, pacing, a source's Retry-After), not failed by
	// the source. pluginDown: the connector's plugin was not running.
	hostRejected bool
	pluginDown   bool
	// answered: a stage wrote the whole answer (a relay from the home
	// region); the rest of the pipeline is skipped. forwarded: the request
	// was relayed (or its relay failed); misdirected: refused with 421.
	answered    bool
	forwarded   bool
	misdirected bool
}

func (s *Server) serveAPI(rc *fasthttp.RequestCtx) {
	x := &exchange{rc: rc, start: time.Now(), route: route{template: routeUnknown}}
	var p *problem
	func() {
		defer func() {
			if r := recover(); r != nil {
				// The panic value may hold request data: log only that it
				// happened and where.
				s.log.Error("panic serving request", "request_id", x.requestID, "route", x.route.template)
				p = fail(unified.CodeInternal, "")
			}
		}()
		for _, st := range pipeline {
			if p = st.run(s, x); p != nil || x.answered {
				return
			}
		}
	}()
	s.settleConnection(x, p)
	if p != nil {
		if x.requestID == "" {
			x.requestID = newRequestID()
		}
		writeProblem(rc, p, x.requestID)
		x.code = p.code
	}
	x.status = rc.Response.StatusCode()
	s.finish(x)
}

// finish stamps timing headers, records metrics and emits the audit event.
func (s *Server) finish(x *exchange) {
	total := time.Since(x.start)
	up := time.Duration(x.upstream.Load())
	own := max(total-up, 0)
	h := &x.rc.Response.Header
	h.Set("X-Request-Id", x.requestID)
	h.Set("Server-Timing", "proxy;dur="+ms(own)+", upstream;dur="+ms(up))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if up := x.up.snapshot(); up.calls > 0 {
		setIf(h, "X-Source-RateLimit-Limit", up.limit)
		setIf(h, "X-Source-RateLimit-Remaining", up.remaining)
		setIf(h, "X-Source-RateLimit-Reset", up.reset)
	}

	conn := ""
	if x.conn != nil {
		conn = x.conn.cfg.ID
	}
	s.metrics.observe(x.route.template, conn, x.status, x.code, total, up)

	ev := &auditlog.Event{
		RequestID:             x.requestID,
		SourceIP:              x.rc.RemoteIP().String(),
		PurposeOfUse:          purposeOfUse(x.rc),
		Action:                x.action(),
		ResourceType:          string(x.route.resource),
		Route:                 x.route.template,
		Region:                s.cfg.Node.Region,
		Status:                x.status,
		ErrorCode:             string(x.code),
		RecordCount:           x.records,
		LatencyProxyMicros:    own.Microseconds(),
		LatencyUpstreamMicros: up.Microseconds(),
		ConfigHash:            s.configHash,
	}
	if !x.route.resource.Known() {
		ev.ResourceType = ""
	}
	if x.client != nil {
		ev.Tenant, ev.Actor = x.client.tenant, x.client.id
	}
	if x.conn != nil {
		ev.Connection, ev.Connector = x.conn.cfg.ID, x.conn.kind
		if x.route.resource == unified.Patients && x.route.id != "" && validSourceID(x.route.id) {
			if t := s.tenants[x.conn.cfg.Tenant]; t != nil && t.served {
				ev.PatientRef = t.refs.Ref(t.id, x.conn.cfg.ID, x.route.id)
			}
		}
	}
	s.audit.Emit(s.baseCtx, ev)
}

func (x *exchange) action() string {
	switch {
	case x.route.template == routeOpenAPI:
		return auditlog.ActionMetadata
	case x.client == nil || x.conn == nil || x.misdirected:
		return auditlog.ActionRefused
	case x.forwarded:
		return auditlog.ActionForward
	case x.route.template == routeRead:
		return auditlog.ActionRead
	case x.route.template == routeSearch:
		return auditlog.ActionSearch
	case x.route.template == routeCapabilities:
		return auditlog.ActionCapabilities
	case x.route.template == routePassthrough:
		return auditlog.ActionPassthrough
	}
	return auditlog.ActionRefused
}

// purposeOfUse reads the client's declared purpose. Only a code of HL7's
// PurposeOfUse value set (v3 ActReason, the codes HIPAA and TEFCA
// exchanges use) is kept: the header is free text a client could misuse,
// and the audit trail must hold nothing but its closed vocabulary.
func purposeOfUse(rc *fasthttp.RequestCtx) string {
	v := rc.Request.Header.Peek("X-Purpose-Of-Use")
	if len(v) == 0 || len(v) > 16 {
		return ""
	}
	if code, ok := purposesOfUse[string(v)]; ok {
		return code
	}
	return ""
}

// purposesOfUse is the HL7 v3 PurposeOfUse value set
// (terminology.hl7.org/ValueSet/v3-PurposeOfUse), code → itself, so a
// lookup returns the constant string rather than the request's bytes.
var purposesOfUse = func() map[string]string {
	m := map[string]string{}
	for _, c := range []string{
		"PurposeOfUse", "HMARKT", "HOPERAT", "CAREMGT", "DONAT", "FRAUD", "GOV", "HACCRED", "HCOMPL",
		"HDECD", "HDIRECT", "HDM", "HLEGAL", "HOUTCOMS", "HPRGRP", "HQUALIMP", "HSYSADMIN", "LABELING",
		"METAMGT", "MEMADMIN", "MILCDM", "PATADMIN", "PATSFTY", "PERFMSR", "RECORDMGT", "SYSDEV",
		"HTEST", "TRAIN", "HPAYMT", "CLMATTCH", "COVAUTH", "COVERAGE", "ELIGDTRM", "ELIGVER", "ENROLLM",
		"MILDCRG", "REMITADV", "HRESCH", "BIORCH", "CLINTRCH", "CLINTRCHNPC", "CLINTRCHPC", "PRECLINTRCH",
		"DSRCH", "POARCH", "TRANSRCH", "PATRQT", "FAMRQT", "PWATRNY", "SUPNWK", "PUBHLTH", "DISASTER",
		"THREAT", "TREAT", "CLINTRL", "COC", "ETREAT", "BTG", "ERTREAT", "POPHLTH",
	} {
		m[c] = c
	}
	return m
}()

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// serveParseError answers requests fasthttp could not parse (oversized
// body, malformed headers) with a problem, and audits them as refused.
func (s *Server) serveParseError(rc *fasthttp.RequestCtx, err error) {
	x := &exchange{rc: rc, start: time.Now(), requestID: newRequestID(), route: route{template: routeUnknown}}
	code := unified.CodeBadRequest
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		code = unified.CodeRequestTooLarge
	}
	writeProblem(rc, fail(code, ""), x.requestID)
	x.status, x.code = rc.Response.StatusCode(), code
	s.finish(x)
}

// Stages.

func (s *Server) assignRequestID(x *exchange) *problem {
	if v := x.rc.Request.Header.Peek("X-Request-Id"); validRequestID(v) {
		x.requestID = string(v)
	} else {
		x.requestID = newRequestID()
	}
	return nil
}

// validRequestID accepts a caller's request id only if it is short and of a
// plain alphabet, so it cannot smuggle text into audit events.
func validRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) authenticate(x *exchange) *problem {
	if x.route.public() {
		return nil
	}
	auth := x.rc.Request.Header.Peek("Authorization")
	key, ok := bytesCutPrefixFold(auth, "bearer ")
	if !ok || len(key) == 0 {
		return fail(unified.CodeUnauthenticated, "")
	}
	d := sha256.Sum256(key)
	c := s.keys[d]
	if c == nil {
		return fail(unified.CodeUnauthenticated, "")
	}
	// The map lookup found the entry by digest; the compare is constant-time
	// anyway so a future change of index cannot turn into a timing oracle.
	if subtle.ConstantTimeCompare(c.digest[:], d[:]) != 1 {
		return fail(unified.CodeUnauthenticated, "")
	}
	x.client = c
	return nil
}

func bytesCutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) {
		return nil, false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return nil, false
		}
	}
	return b[len(prefix):], true
}

func (s *Server) matchRoute(x *exchange) *problem {
	r, ok := parsePath(x.rc.Path(), x.rc.URI().PathOriginal())
	if !ok {
		return fail(unified.CodeNotFound, "")
	}
	x.route = r
	if r.template == routePassthrough {
		if !passthroughMethods[string(x.rc.Method())] {
			return fail(unified.CodeMethodNotAllowed, "")
		}
		return nil
	}
	if !x.rc.IsGet() {
		return fail(unified.CodeMethodNotAllowed, "")
	}
	return nil
}

func (s *Server) resolveConnection(x *exchange) *problem {
	if x.route.public() {
		return nil
	}
	cn, ok := s.connections[x.route.connectionID]
	// Another tenant's connection answers exactly like a missing one, so a
	// client cannot probe which connection ids exist.
	if !ok || cn.cfg.Tenant != x.client.tenant {
		return fail(unified.CodeConnectionNotFound, "")
	}
	if !x.client.allowed[cn.cfg.ID] {
		return fail(unified.CodeForbidden, "")
	}
	x.conn = cn
	return nil
}

// admitAudit refuses a request that would touch a tenant's data when the
// tenant's audit trail cannot take its event (policy "block": no sink has
// accepted and the queue is full). Unaudited access to PHI is worse than
// none; the refusal itself is still emitted, into a reserve kept for it.
func (s *Server) admitAudit(x *exchange) *problem {
	if x.conn == nil {
		return nil
	}
	if err := s.audit.Admit(x.conn.cfg.Tenant); err != nil {
		return fail(unified.CodeAuditUnavailable, "")
	}
	return nil
}

// authorize checks the client's scope for the route: unified reads and
// capabilities need "read", passthrough needs "passthrough".
func (s *Server) authorize(x *exchange) *problem {
	switch {
	case x.route.public():
		return nil
	case x.route.template == routePassthrough:
		if !x.client.scopes[config.ScopePassthrough] {
			return fail(unified.CodeForbidden, "")
		}
	default:
		if !x.client.scopes[config.ScopeRead] {
			return fail(unified.CodeForbidden, "")
		}
	}
	return nil
}
