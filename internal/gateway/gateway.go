package gateway

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/plugins"
	"github.com/ferryhealth/ferry/plugins/sandbox"
	"github.com/ferryhealth/ferry/proxy"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/tracing"
)

// Gateway is a running Ferry: its connectors (the plugin host), the API
// and admin listeners, the audit trail.
type Gateway struct {
	// Host is the plugin host; nil with Options.InProcess.
	Host   *plugins.Host
	server *proxy.Server
	audit  *auditlog.Emitter
	// Events is the feeds and webhooks (docs/events.md).
	Events   *Events
	apiAddr  net.Addr
	adminAdr net.Addr
	errc     chan error
	drain    config.Drain
	tracer   *tracing.Tracer
	// stopRetries ends the background retries of degraded tenants; retries
	// counts them (and the reloads' removals of tenants).
	retryCtx    context.Context
	stopRetries context.CancelFunc
	retries     sync.WaitGroup

	// What a reload reads and replaces (reload.go).
	reloadMu   sync.Mutex
	cfg        *config.Config
	configPath string
	trail      *auditTrail
	logger     *slog.Logger
}

// Options change how the gateway is assembled.
type Options struct {
	// InProcess, when set, serves these connectors linked into the process
	// instead of starting the config's plugins. It exists for the
	// benchmark harness, to price the plugin hop; `ferry` never sets it (a
	// connector in the host's process is neither isolated nor sandboxed).
	InProcess map[string]connectors.Connector
	// ConfigPath is the file the config was read from: SIGHUP reloads it
	// (Reload). Empty: SIGHUP is ignored.
	ConfigPath string
}

// Start starts the connectors and both listeners. Audit events go to
// auditOut as JSON lines; logs (never PHI) to logger.
func Start(ctx context.Context, cfg *config.Config, cfgHash string, auditOut io.Writer, logger *slog.Logger, o Options) (*Gateway, error) {
	var host *plugins.Host
	var conns proxy.Connectors
	if o.InProcess != nil {
		ip, err := proxy.NewInProcess(ctx, cfg, o.InProcess)
		if err != nil {
			return nil, err
		}
		conns = ip
	} else {
		specs, err := pluginSpecs(cfg)
		if err != nil {
			return nil, err
		}
		if host, err = plugins.NewHost(specs, plugins.Options{StartTimeout: cfg.Limits.PluginStartTimeout.D(), Logger: logger}); err != nil {
			return nil, err
		}
		logSandboxes(logger, host)
		conns = sandboxedHost{host}
	}
	tenantSecrets, err := NewTenantSecrets(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	trail := newAuditTrail(cfg, tenantSecrets, auditOut)
	audit, degraded, err := trail.build(ctx, cfgHash, logger)
	if err != nil {
		return nil, err
	}
	events, err := StartEvents(ctx, cfg, cfgHash, conns, tenantSecrets, audit, logger)
	if err != nil {
		_ = audit.Close(ctx)
		return nil, err
	}
	tracer, err := tracing.New(ctx, cfg.Node.Tracing, tracing.Service{Version: proxy.Version, Region: cfg.Node.Region})
	if err != nil {
		events.Close()
		_ = audit.Close(ctx)
		return nil, fmt.Errorf("node.tracing: %w", err)
	}
	// From here a failure closes the feeds, the tracer and the audit trail
	// it opened (they hold listeners, connections and goroutines).
	fail := func(err error) (*Gateway, error) {
		events.Close()
		_ = tracer.Shutdown(ctx)
		_ = audit.Close(ctx)
		return nil, err
	}
	srv, err := proxy.New(ctx, proxy.Options{
		Config: cfg, ConfigHash: cfgHash, Connectors: conns, TenantSecrets: tenantSecrets, Audit: audit, Logger: logger,
		ExtraMetrics: []proxy.MetricsAppender{events, tracing.Metrics{}}, Tracer: tracer,
	})
	if err != nil {
		return fail(err)
	}
	var tlsConf *tls.Config
	if t := cfg.Node.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return fail(fmt.Errorf("node.tls: %w", err))
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	apiLn, err := net.Listen("tcp", cfg.Node.Listen)
	if err != nil {
		return fail(err)
	}
	adminLn, err := net.Listen("tcp", cfg.Node.AdminListen)
	if err != nil {
		apiLn.Close()
		return fail(err)
	}
	g := &Gateway{Host: host, server: srv, audit: audit, Events: events, apiAddr: apiLn.Addr(), adminAdr: adminLn.Addr(), errc: make(chan error, 2),
		drain: cfg.Node.Drain, tracer: tracer, cfg: cfg, configPath: o.ConfigPath, trail: trail, logger: logger}
	// A tenant whose audit trail could not be set up is degraded alone:
	// Admit refuses its requests (503 audit_unavailable) while it is
	// retried.
	rctx, stop := context.WithCancel(context.Background())
	g.retryCtx, g.stopRetries = rctx, stop
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if err := degraded[t.ID]; err != nil {
			logger.Error("tenant degraded: its requests are refused until its audit trail can be set up", "tenant", t.ID, "err", err)
			g.retries.Go(func() { trail.retry(rctx, audit, t, logger) })
		}
	}
	if host != nil {
		host.Start()
	}
	go func() { g.errc <- srv.ServeAPI(apiLn, tlsConf) }()
	go func() { g.errc <- srv.ServeAdmin(adminLn) }()
	return g, nil
}

// APIAddr and AdminAddr are where the listeners are.
func (g *Gateway) APIAddr() net.Addr { return g.apiAddr }

// AdminAddr is where /healthz, /readyz and /metrics are served.
func (g *Gateway) AdminAddr() net.Addr { return g.adminAdr }

// Wait blocks until SIGINT/SIGTERM or a listener fails, then drains
// (Drain) and returns the process's exit code: 0 when every request ended
// and the audit trail was delivered.
func (g *Gateway) Wait(logger *slog.Logger) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	hup := make(chan os.Signal, 1)
	if g.configPath != "" {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	for {
		select {
		case <-hup:
			_ = g.Reload(context.Background())
		case s := <-sig:
			logger.Info("draining", "signal", s.String(), "delay", g.drain.Delay.D().String(), "grace", g.drain.Grace.D().String())
			return g.Drain(logger)
		case err := <-g.errc:
			logger.Error("listener failed", "err", err)
			g.Drain(logger)
			return 3
		}
	}
}

// Drain stops the gateway in order. /readyz answers 503 at once, and the
// API keeps accepting for node.drain.delay, so that load balancers take
// the node out before it stops taking connections; then accepting stops,
// and requests in flight get node.drain.grace to finish. Then the plugins
// stop, and each tenant's chain gets its final checkpoint and its queued
// events are delivered, within a second grace. It returns 0 when all of
// that happened in time, 3 otherwise.
func (g *Gateway) Drain(logger *slog.Logger) int {
	code := 0
	g.server.SetDraining()
	if d := g.drain.Delay.D(); d > 0 {
		time.Sleep(d)
	}
	g.stopRetries()
	g.retries.Wait()
	// Feeds before the API: a message in flight is left unacknowledged,
	// and its sender resends it to another replica.
	g.Events.Close()
	grace := g.drain.Grace.D()
	if grace <= 0 {
		grace = config.DefaultDrainGrace
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := g.server.Shutdown(ctx); err != nil {
		logger.Error("requests still in flight at the end of the grace period", "err", err)
		code = 3
	}
	// The last requests' spans are exported within the same grace.
	if err := g.tracer.Shutdown(ctx); err != nil {
		logger.Warn("spans not exported before the end of the grace period", "err", err)
	}
	if g.Host != nil {
		g.Host.Close()
	}
	// After the last request: a final checkpoint per tenant, and every
	// queued event delivered, or counted and logged as lost.
	actx, acancel := context.WithTimeout(context.Background(), grace)
	defer acancel()
	if err := g.audit.Close(actx); err != nil {
		logger.Error("audit trail not fully delivered", "err", err)
		code = 3
	}
	logger.Info("drained", "exit_code", code)
	return code
}

// NewTenantSecrets builds each tenant's secrets provider. The node's own AWS
// identity, which only assumes the tenants' roles, comes from the SDK's
// default chain (the pod's IAM role, or AWS_* variables), and is looked up
// only when a tenant uses the aws provider. Credentials are fetched lazily,
// on the first AssumeRole.
func NewTenantSecrets(ctx context.Context, cfg *config.Config, logger *slog.Logger) (map[string]secrets.Provider, error) {
	o := proxy.SecretsOptions{Env: secrets.Env{}, Logger: logger}
	for _, t := range cfg.Tenants {
		if t.Secrets.Provider != config.SecretsAWS {
			continue
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("aws: loading the node's credentials: %w", err)
		}
		o.AWSCredentials = awsCfg.Credentials
		break
	}
	return proxy.NewTenantSecrets(cfg, o)
}

func pluginSpecs(cfg *config.Config) ([]plugins.Spec, error) {
	var specs []plugins.Spec
	for _, p := range cfg.Plugins {
		sum, err := hex.DecodeString(p.SHA256)
		if err != nil {
			return nil, fmt.Errorf("plugin %q: sha256: %w", p.Kind, err)
		}
		s := plugins.Spec{Kind: p.Kind, Path: p.Path, SHA256: sum, Sandbox: SandboxMode(cfg, p)}
		for _, c := range cfg.Connections {
			// A plugin learns only the connections this node serves: those
			// of tenants whose home is another region are never used here.
			if t := cfg.Tenant(c.Tenant); t == nil || !cfg.ServedHere(t) {
				continue
			}
			if c.Connector == p.Kind {
				s.Connections = append(s.Connections, plugins.Connection{ID: c.ID, Settings: c.Settings})
			}
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// SandboxMode is the kernel sandbox a catalog entry asks for. dev_mode
// relaxes "required" to "best_effort", so a laptop without Landlock still
// runs the demo; it never turns a sandbox off.
func SandboxMode(cfg *config.Config, p config.Plugin) sandbox.Mode {
	m := sandbox.Mode(p.Sandbox).Normal()
	if cfg.DevMode && m == sandbox.ModeRequired {
		return sandbox.ModeBestEffort
	}
	return m
}

// sandboxedHost is the plugin host as the proxy's Connectors, with each
// plugin's kernel sandbox for /readyz and /metrics (the proxy does not
// import the plugin host).
type sandboxedHost struct{ *plugins.Host }

func (h sandboxedHost) PluginSandboxes() []proxy.PluginSandbox {
	var out []proxy.PluginSandbox
	for _, s := range h.Sandboxes() {
		ps := proxy.PluginSandbox{Kind: s.Kind, Level: string(s.Status.Level()), LandlockABI: s.Status.LandlockABI,
			Seccomp: s.Status.Seccomp, Detail: s.Status.Detail()}
		if s.Err != nil {
			ps = proxy.PluginSandbox{Kind: s.Kind, Level: "refused", Detail: s.Err.Error()}
		}
		out = append(out, ps)
	}
	return out
}

// logSandboxes says, at startup, what the kernel supports and the sandbox
// each plugin runs in (or why it will be refused).
func logSandboxes(logger *slog.Logger, host *plugins.Host) {
	logger.Info("plugin sandbox: kernel support", "support", sandbox.Probe().String())
	for _, s := range host.Sandboxes() {
		if s.Err != nil {
			logger.Error("plugin sandbox: the plugin will not start", "plugin", s.Kind, "err", s.Err)
			continue
		}
		lvl := slog.LevelInfo
		if s.Status.Level() != sandbox.LevelFull {
			lvl = slog.LevelWarn
		}
		logger.Log(context.Background(), lvl, "plugin sandbox", "plugin", s.Kind, "level", string(s.Status.Level()), "sandbox", s.Status.String())
	}
}
