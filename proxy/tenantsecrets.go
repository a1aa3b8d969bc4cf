package proxy

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/secrets/awssm"
)

// SecretsOptions are what NewTenantSecrets needs beyond the config.
type SecretsOptions struct {
	// Env resolves the references of tenants whose provider is "env"
	// (dev_mode only). Nil means secrets.Env{}: the process environment.
	Env secrets.Provider
	// AWSCredentials is the node's own AWS identity, used only to call
	// sts:AssumeRole on each "aws" tenant's role; in production the SDK's
	// default chain (the pod's IAM role). Required when a tenant's provider
	// is "aws".
	AWSCredentials aws.CredentialsProvider
	// Logger receives the aws providers' fetch failures and rotation
	// events, never a value. Nil discards.
	Logger *slog.Logger
	// TuneAWS, when set, adjusts each aws tenant's provider options after
	// they are filled from the config (tests: a clock, timeouts, attempts).
	TuneAWS func(*awssm.Options)
}

// NewTenantSecrets builds one secrets provider per tenant of a validated
// config, by tenant id. Each aws tenant gets its own provider: its own
// assumed role, cache and counters, so one tenant's references never reach
// another's account, and nothing is shared but the node's identity. It
// makes no call: roles are assumed and secrets read on first use.
func NewTenantSecrets(cfg *config.Config, o SecretsOptions) (map[string]secrets.Provider, error) {
	env := o.Env
	if env == nil {
		env = secrets.Env{}
	}
	out := make(map[string]secrets.Provider, len(cfg.Tenants))
	var errs []error
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		// A tenant served in another region has no provider here: this
		// node never reads its secrets.
		if !cfg.ServedHere(t) {
			continue
		}
		switch t.Secrets.Provider {
		case config.SecretsEnv:
			out[t.ID] = env
		case config.SecretsAWS:
			if o.AWSCredentials == nil {
				errs = append(errs, fmt.Errorf("tenant %q: secrets provider aws: the node has no AWS credentials", t.ID))
				continue
			}
			ao := awssm.Options{
				Tenant: t.ID, Region: t.Secrets.Region, RoleARN: t.Secrets.RoleARN, ExternalID: t.Secrets.ExternalID,
				Endpoint: t.Secrets.Endpoint, Credentials: o.AWSCredentials, TTL: t.Secrets.CacheTTL.D(), Logger: o.Logger,
				MinForcedRefreshInterval: t.Secrets.MinForcedRefresh.D(),
			}
			if o.TuneAWS != nil {
				o.TuneAWS(&ao)
			}
			p, err := awssm.New(ao)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out[t.ID] = p
		default:
			errs = append(errs, fmt.Errorf("tenant %q: unknown secrets provider %q", t.ID, t.Secrets.Provider))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
