package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/proxy/tracing"
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

// Auditor takes the audit event of every request: the tenants' audit
// trails (auditlog.Emitter) in the product, a recorder in tests
// (auditlog/auditlogtest).
type Auditor interface {
	// Admit says whether a request that will reach tenant's data may go
	// on; an error refuses it with 503 audit_unavailable.
	Admit(tenant string) error
	// Emit records a request's event. It never fails the request; e may be
	// reused once it returns.
	Emit(ctx context.Context, e *auditlog.Event)
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
	Audit  Auditor
	Logger *slog.Logger
	// Clock is what deadlines, limits and the connections' guards read;
	// nil is the system clock.
	Clock clock.Clock
	// ExtraMetrics append more families to /metrics in the text format
	// (the feeds' and webhooks', docs/events.md), read at each scrape.
	ExtraMetrics []MetricsAppender
	// Tracer records a span per request (docs/tracing.md); nil is
	// tracing.Off. The caller shuts it down after Shutdown.
	Tracer *tracing.Tracer
}

// MetricsAppender appends metric families in the Prometheus text format
// (0.0.4): HELP and TYPE lines, then samples whose labels are config ids,
// never content.
type MetricsAppender interface {
	AppendMetrics(b []byte) []byte
}

// Server is the API and admin front.
type Server struct {
	// cfg is the configuration the server started with: what a reload
	// cannot change (the node, the limits, the cursor keys) is read here.
	cfg     *config.Config
	conns   Connectors
	audit   Auditor
	log     *slog.Logger
	clock   clock.Clock
	metrics *metrics
	// extra append metrics of parts outside the proxy (event feeds).
	extra  []MetricsAppender
	tracer *tracing.Tracer

	cursors *cursor.Sealer
	// ckeys are the operator's cursor keys, from which pseudonym
	// keys are derived; a reload cannot change them.
	ckeys []cursor.Key
	// changesTTL is how long a change feed's cursor stays valid.
	changesTTL time.Duration
	// creates serialises the creates of one idempotency identifier
	// (idempotency.go).
	creates createLocks
	// proxies are node.trusted_proxies: whose word on the client's address
	// is taken (clientaddr.go).
	proxies trustedProxies
	// sources are the HTTP clients of the connections' sources, one per
	// origin and egress policy.
	sources *source.Clients
	// tab is the current configuration's tables; a request reads it once,
	// at its start, and keeps that snapshot to its end (Reload).
	tab atomic.Pointer[tables]
	// reloadMu orders reloads.
	reloadMu sync.Mutex

	baseCtx context.Context
	cancel  context.CancelFunc
	// draining is set at SIGTERM: /readyz answers 503 while the API still
	// serves (SetDraining).
	draining atomic.Bool
	// background counts the goroutines that retry degraded tenants.
	background sync.WaitGroup
	api        *fasthttp.Server
	admin      *fasthttp.Server
}

// New builds a server from a validated config. It reads each tenant's
// audit key, with the tenant's own secrets provider; a tenant whose key
// cannot be read is degraded alone (its requests get 503
// credentials_unavailable) and retried in the background (tenants.go).
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
	s := &Server{
		cfg: o.Config, conns: o.Connectors, audit: o.Audit, log: o.Logger, extra: o.ExtraMetrics,
		clock: clock.Or(o.Clock), metrics: newMetrics(), proxies: o.Config.Node.TrustedPrefixes(),
		tracer: o.Tracer,
	}
	if s.tracer == nil {
		s.tracer = tracing.Off()
	}
	s.metrics.watchHop(o.Connectors)
	ckeys, err := cursorKeys(ctx, o.Config)
	if err != nil {
		return nil, err
	}
	s.ckeys = ckeys
	if s.cursors, err = newCursorSealer(o.Config, ckeys); err != nil {
		return nil, err
	}
	s.changesTTL = config.DefaultChangesCursorTTL
	if o.Config.Cursor != nil && o.Config.Cursor.ChangesTTL > 0 {
		s.changesTTL = o.Config.Cursor.ChangesTTL.D()
	}
	s.sources = source.NewClients("Ferry/"+Version, o.Config.Limits.MaxUpstreamBodyBytes, s.clock)
	tab, err := s.newTables(o.Config, o.ConfigHash, providers, nil)
	if err != nil {
		return nil, err
	}
	tab.generation = 1
	s.tab.Store(tab)
	s.sources.Serving()
	s.metrics.generation.Store(1)
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
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.readTenantKeys(ctx, tab)
	return s, nil
}

// ServeAPI serves the API on ln until Shutdown. tlsConf, when not nil,
// wraps the listener (TLS 1.2 minimum is enforced here).
func (s *Server) ServeAPI(ln net.Listener, tlsConf *tls.Config) error {
	ln = newLingerListener(ln)
	if s.cfg.Node.ProxyProtocol {
		// The PROXY header comes before the TLS handshake.
		ln = proxyProtocolListener(ln, s.proxies)
	}
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
		if tlsConf.MinVersion < tls.VersionTLS12 {
			tlsConf.MinVersion = tls.VersionTLS12
		}
		ln = tls.NewListener(ln, tlsConf)
	}
	return s.api.Serve(countingListener{ln})
}

// ServeAdmin serves /healthz, /readyz and /metrics on ln until Shutdown.
func (s *Server) ServeAdmin(ln net.Listener) error { return s.admin.Serve(ln) }

// SetDraining makes /readyz answer 503 from now on, so load balancers
// stop sending requests, while the API goes on serving until Shutdown.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Shutdown stops accepting, lets in-flight requests finish (bounded by ctx)
// and cancels what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	err := errors.Join(s.api.ShutdownWithContext(ctx), s.admin.ShutdownWithContext(ctx))
	s.cancel()
	s.background.Wait()
	if v := s.tab.Load().verifier; v != nil {
		v.Close()
	}
	// Keep-alive connections to sources would otherwise linger until
	// their idle timeout.
	tab := s.tab.Load()
	for _, cn := range tab.connections {
		if cn.source != nil { // nil: a tenant served in another region
			cn.source.Close()
		}
	}
	s.sources.CloseIdle()
	for _, h := range tab.regions {
		if h.client != nil {
			h.client.CloseIdleConnections()
		}
	}
	return err
}
