package gateway

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/secrets"
)

// NewAuditEmitter builds the gateway's audit Emitter from the config: one
// stream per tenant with the tenant's sinks (stdout when none is
// configured), policy, queue and checkpoint signing key, and a default
// stream on stdout for requests refused before a tenant was known. Secret
// references (signing key, webhook HMAC keys) are resolved with each
// tenant's own provider, as providers holds them (NewTenantSecrets). AWS
// sinks use the node's credentials (the SDK's default chain). cfgHash is
// the value the proxy writes in config_hash, so checkpoints carry the same.
//
// Every stdout sink shares one writer, so lines of different streams never
// interleave. The caller must Close the Emitter (after the server stopped
// serving) to flush the queues. NewAuditEmitter fails when any tenant's
// trail cannot be set up (`ferry audit`); the gateway itself starts
// without such a tenant and retries it (auditTrail.retry).
func NewAuditEmitter(ctx context.Context, cfg *config.Config, cfgHash string, providers map[string]secrets.Provider, stdout io.Writer, logger *slog.Logger) (*auditlog.Emitter, error) {
	tr := newAuditTrail(cfg, providers, stdout)
	em, degraded, err := tr.build(ctx, cfgHash, logger)
	if err != nil {
		return nil, err
	}
	if len(degraded) > 0 {
		_ = em.Close(ctx)
		errs := make([]error, 0, len(degraded))
		for _, e := range degraded {
			errs = append(errs, e)
		}
		return nil, errors.Join(errs...)
	}
	return em, nil
}

// auditTrail builds tenants' audit streams: at start, and later for a
// tenant whose keys or sinks could not be set up then.
type auditTrail struct {
	// mu guards cfg and providers, which a reload replaces.
	mu        sync.Mutex
	cfg       *config.Config
	providers map[string]secrets.Provider
	stdout    io.Writer
	// shared is the one writer of every stdout sink.
	shared sharedStdout
}

// sharedStdout is the stdout sink every stream shares: closing one
// stream's (a tenant removed, or one whose other sinks failed to build)
// must not close the others'.
type sharedStdout struct{ *auditlog.JSONLinesSink }

func (sharedStdout) Close() error { return nil }

func newAuditTrail(cfg *config.Config, providers map[string]secrets.Provider, stdout io.Writer) *auditTrail {
	return &auditTrail{cfg: cfg, providers: providers, stdout: stdout, shared: sharedStdout{auditlog.NewJSONLines(stdout)}}
}

func (tr *auditTrail) stdoutSink(ctx context.Context) auditlog.SinkOptions {
	so, _ := auditlog.NewSink(ctx, auditlog.SinkConfig{Kind: auditlog.SinkStdout, Stdout: tr.stdout})
	so.Sink = tr.shared
	return so
}

// build makes the Emitter with every tenant whose trail can be set up; the
// others are returned in degraded, with why, for retry to add later.
func (tr *auditTrail) build(ctx context.Context, cfgHash string, logger *slog.Logger) (*auditlog.Emitter, map[string]error, error) {
	opts := auditlog.Options{
		Region: tr.cfg.Node.Region, ConfigHash: cfgHash, Logger: logger,
		Default: &auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{tr.stdoutSink(ctx)}},
		Tenants: map[string]auditlog.StreamOptions{},
	}
	degraded := map[string]error{}
	for i := range tr.cfg.Tenants {
		t := &tr.cfg.Tenants[i]
		so, err := tr.tenantStream(ctx, t)
		if err != nil {
			degraded[t.ID] = err
			continue
		}
		opts.Tenants[t.ID] = so
	}
	em, err := auditlog.New(opts)
	if err != nil {
		closeSinks(opts)
		return nil, nil, err
	}
	return em, degraded, nil
}

// tenantStream builds one tenant's stream options: its signing key, its
// sinks (with their HMAC keys), its policy and queue. It is the audit part
// of a tenant's runtime; on error nothing it built is left open.
func (tr *auditTrail) tenantStream(ctx context.Context, t *config.Tenant) (auditlog.StreamOptions, error) {
	tr.mu.Lock()
	cfg, prov := tr.cfg, tr.providers[t.ID]
	tr.mu.Unlock()
	if !cfg.ServedHere(t) {
		// A tenant served in another region: this node only records,
		// in its own trail, that it redirected or forwarded the
		// tenant's requests. It builds none of the tenant's sinks
		// (they sit in the tenant's regions) and reads none of its
		// keys.
		return auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{tr.stdoutSink(ctx)}}, nil
	}
	a := t.Audit
	so := auditlog.StreamOptions{
		OnSinkFailure: auditlog.Policy(a.OnSinkFailure), QueueSize: a.QueueSize,
		CheckpointEvery: a.CheckpointEvery, CheckpointInterval: a.CheckpointInterval.D(),
	}
	if prov == nil {
		return so, fmt.Errorf("tenant %q: no secrets provider", t.ID)
	}
	if a.SigningKeyRef != "" {
		key, err := ResolveSigningKey(ctx, prov, a.SigningKeyRef)
		if err != nil {
			return so, fmt.Errorf("tenant %q: audit signing key: %w", t.ID, err)
		}
		so.SigningKey = key
	}
	if len(a.Sinks) == 0 {
		so.Sinks = []auditlog.SinkOptions{tr.stdoutSink(ctx)}
	}
	fail := func(err error) (auditlog.StreamOptions, error) {
		closeSinks(auditOptions(t.ID, so))
		return so, err
	}
	for i, sk := range a.Sinks {
		sc := auditlog.SinkConfig{
			Kind: sk.Kind, Name: sk.Name, BatchSize: sk.BatchSize, FlushInterval: sk.FlushInterval.D(), Timeout: sk.Timeout.D(),
			URL: sk.URL, Address: sk.Address, UseTLS: sk.TLS != nil, Facility: sk.Facility,
			Region: sk.Region, Endpoint: sk.Endpoint, LogGroup: sk.LogGroup, LogStreamPrefix: sk.LogStreamPrefix,
			DeliveryStream: sk.DeliveryStream, Bucket: sk.Bucket, Prefix: sk.Prefix, PathStyle: sk.PathStyle,
		}
		if sk.TLS != nil {
			sc.CAFile, sc.ServerName = sk.TLS.CAFile, sk.TLS.ServerName
		}
		if sk.HMACKeyRef != "" {
			v, err := prov.Resolve(ctx, sk.HMACKeyRef)
			if err != nil {
				return fail(fmt.Errorf("tenant %q: audit.sinks[%d].hmac_key_ref: %w", t.ID, i, err))
			}
			sc.HMACKey = v.Reveal()
		}
		if sk.Kind == auditlog.SinkStdout {
			so.Sinks = append(so.Sinks, tr.stdoutSink(ctx))
			continue
		}
		built, err := auditlog.NewSink(ctx, sc)
		if err != nil {
			return fail(fmt.Errorf("tenant %q: audit.sinks[%d]: %w", t.ID, i, err))
		}
		so.Sinks = append(so.Sinks, built)
	}
	return so, nil
}

// retry builds tenant t's stream again, waiting the node's tenant_retry
// backoff between attempts, and adds it to em once it can be built; it
// gives up when ctx ends.
func (tr *auditTrail) retry(ctx context.Context, em *auditlog.Emitter, t *config.Tenant, logger *slog.Logger) {
	tr.mu.Lock()
	backoff := tr.cfg.Node.TenantRetry
	tr.mu.Unlock()
	var wait time.Duration
	for {
		wait = backoff.Next(wait)
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
		if !tr.current(t) {
			return // a reload removed or changed the tenant
		}
		actx, cancel := context.WithTimeout(ctx, max(wait, 10*time.Second))
		so, err := tr.tenantStream(actx, t)
		cancel()
		if err == nil {
			if err = em.AddTenant(t.ID, so); err == nil {
				logger.Info("tenant audit trail set up", "tenant", t.ID)
				return
			}
			closeSinks(auditOptions(t.ID, so))
		}
		logger.Warn("tenant audit trail still not set up: its requests are refused", "tenant", t.ID, "err", err, "retry_in", backoff.Next(wait).String())
	}
}

// current reports whether t is still the configuration of its tenant.
func (tr *auditTrail) current(t *config.Tenant) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := tr.cfg.Tenant(t.ID)
	return n != nil && reflect.DeepEqual(*n, *t)
}

// reconfigure points the trail at a reloaded configuration and its
// tenants' providers.
func (tr *auditTrail) reconfigure(cfg *config.Config, providers map[string]secrets.Provider) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.cfg, tr.providers = cfg, providers
}

func auditOptions(tenant string, so auditlog.StreamOptions) auditlog.Options {
	return auditlog.Options{Tenants: map[string]auditlog.StreamOptions{tenant: so}}
}

func closeSinks(o auditlog.Options) {
	for _, so := range o.Tenants {
		for _, s := range so.Sinks {
			if s.Sink != nil {
				_ = s.Sink.Close()
			}
		}
	}
}

// ResolveSigningKey reads a tenant's Ed25519 checkpoint signing key.
func ResolveSigningKey(ctx context.Context, prov secrets.Provider, ref string) (ed25519.PrivateKey, error) {
	v, err := prov.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	return auditlog.ParseSigningKey(v.Reveal())
}
