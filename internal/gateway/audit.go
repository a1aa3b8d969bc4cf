package gateway

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"

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
// serving) to flush the queues.
func NewAuditEmitter(ctx context.Context, cfg *config.Config, cfgHash string, providers map[string]secrets.Provider, stdout io.Writer, logger *slog.Logger) (*auditlog.Emitter, error) {
	shared := auditlog.NewJSONLines(stdout)
	stdoutSink := func() auditlog.SinkOptions {
		so, _ := auditlog.NewSink(ctx, auditlog.SinkConfig{Kind: auditlog.SinkStdout, Stdout: stdout})
		so.Sink = shared
		return so
	}
	opts := auditlog.Options{
		Region: cfg.Node.Region, ConfigHash: cfgHash, Logger: logger,
		Default: &auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{stdoutSink()}},
		Tenants: map[string]auditlog.StreamOptions{},
	}
	var errs []error
	for _, t := range cfg.Tenants {
		if !cfg.ServedHere(&t) {
			// A tenant served in another region: this node only records,
			// in its own trail, that it redirected or forwarded the
			// tenant's requests. It builds none of the tenant's sinks
			// (they sit in the tenant's regions) and reads none of its
			// keys.
			opts.Tenants[t.ID] = auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{stdoutSink()}}
			continue
		}
		a := t.Audit
		so := auditlog.StreamOptions{
			OnSinkFailure: auditlog.Policy(a.OnSinkFailure), QueueSize: a.QueueSize,
			CheckpointEvery: a.CheckpointEvery, CheckpointInterval: a.CheckpointInterval.D(),
		}
		prov := providers[t.ID]
		if prov == nil {
			errs = append(errs, fmt.Errorf("tenant %q: no secrets provider", t.ID))
			continue
		}
		if a.SigningKeyRef != "" {
			key, err := ResolveSigningKey(ctx, prov, a.SigningKeyRef)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %q: audit signing key: %w", t.ID, err))
				continue
			}
			so.SigningKey = key
		}
		if len(a.Sinks) == 0 {
			so.Sinks = []auditlog.SinkOptions{stdoutSink()}
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
					errs = append(errs, fmt.Errorf("tenant %q: audit.sinks[%d].hmac_key_ref: %w", t.ID, i, err))
					continue
				}
				sc.HMACKey = v.Reveal()
			}
			if sk.Kind == auditlog.SinkStdout {
				so.Sinks = append(so.Sinks, stdoutSink())
				continue
			}
			built, err := auditlog.NewSink(ctx, sc)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %q: audit.sinks[%d]: %w", t.ID, i, err))
				continue
			}
			so.Sinks = append(so.Sinks, built)
		}
		opts.Tenants[t.ID] = so
	}
	if len(errs) > 0 {
		closeSinks(opts)
		return nil, errors.Join(errs...)
	}
	em, err := auditlog.New(opts)
	if err != nil {
		closeSinks(opts)
		return nil, err
	}
	return em, nil
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
