package awssm

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/sync/singleflight"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// Defaults for Options.
const (
	DefaultTTL                      = 5 * time.Minute
	DefaultMinForcedRefreshInterval = 5 * time.Second
	DefaultErrorBackoff             = 2 * time.Second
	DefaultFetchTimeout             = 10 * time.Second
	DefaultMaxAttempts              = 3
	// DefaultRoleSessionDuration is how long assumed-role credentials last;
	// they are renewed a minute before they expire.
	DefaultRoleSessionDuration = 15 * time.Minute
)

// Log field names and messages (API: operators alert on them).
const (
	LogTenant = "tenant"
	LogSecret = "secret_arn"
	LogOp     = "op"
	LogCode   = "aws_code"
	LogError  = "error"
	LogStage  = "stage"
)

const (
	stageCurrent = "AWSCURRENT"
	stagePending = "AWSPENDING"
)

// Options configure a tenant's provider.
type Options struct {
	// Tenant is the tenant's id; it names the STS session ("ferry-<tenant>")
	// so the tenant's CloudTrail shows who read their secrets.
	Tenant string
	// Region is the tenant's AWS region; STS and Secrets Manager are called
	// there, and references to other regions are refused. Required.
	Region string
	// RoleARN is the role in the tenant's account that Ferry assumes.
	// Required.
	RoleARN string
	// ExternalID is the ExternalId the role's trust policy requires, which
	// keeps another Ferry customer from making Ferry assume this role.
	// Required.
	ExternalID string
	// Endpoint overrides the AWS endpoint of both STS and Secrets Manager
	// (moto in tests, a VPC endpoint). Default: the regional endpoints.
	Endpoint string
	// STSEndpoint overrides Endpoint for STS only.
	STSEndpoint string
	// Credentials is the node's own identity, used only to call AssumeRole.
	// Required (in production: the default chain's provider, i.e. the pod's
	// IAM role).
	Credentials aws.CredentialsProvider
	// HTTPClient makes the AWS calls. Default: the SDK's client.
	HTTPClient aws.HTTPClient
	// TTL is how long a fetched value may be served. Default 5 minutes.
	TTL time.Duration
	// RefreshAhead is how long before the TTL ends a background fetch
	// starts. Default TTL/5.
	RefreshAhead time.Duration
	// MinForcedRefreshInterval is the least time between two forced
	// refreshes of one secret. Default 5s.
	MinForcedRefreshInterval time.Duration
	// ErrorBackoff is how long a failed fetch is not retried. Default 2s.
	ErrorBackoff time.Duration
	// FetchTimeout bounds one fetch (AssumeRole and GetSecretValue, with
	// retries). Default 10s.
	FetchTimeout time.Duration
	// MaxAttempts is the SDK's attempts per AWS call. Default 3.
	MaxAttempts int
	// RoleSessionDuration is the assumed role's session length. Default 15m
	// (the STS minimum).
	RoleSessionDuration time.Duration
	// Now is the clock of the cache; nil means time.Now. (AWS signing keeps
	// the real clock.)
	Now func() time.Time
	// Logger receives fetch failures and rotation events: never a value.
	// Nil discards.
	Logger *slog.Logger
}

// Stats counts the provider's work since it was created.
type Stats struct {
	// Resolves is the number of Resolve calls.
	Resolves uint64
	// CacheHits is the number of Resolve calls answered from the cache
	// without waiting for AWS.
	CacheHits uint64
	// Fetches is the number of GetSecretValue calls made (any stage).
	Fetches uint64
	// FetchErrors is the number of fetches that failed.
	FetchErrors uint64
	// Refreshes counts fetches that stored a value (a secret read, or read
	// again for its TTL or a rotation): the credential refreshes that
	// succeeded.
	Refreshes uint64
	// LastRefresh is when a fetch last stored a value; zero if never.
	LastRefresh time.Time
	// ForcedRefreshes is the number of Refresh calls that fetched.
	ForcedRefreshes uint64
	// RefreshesCoalesced is the number of Refresh calls answered by another
	// call's fetch or from the cache (rate limit).
	RefreshesCoalesced uint64
	// AssumeRoles is the number of STS AssumeRole calls made.
	AssumeRoles uint64
}

// Provider resolves one tenant's references. Safe for concurrent use.
type Provider struct {
	tenant, region, account string
	sm                      *secretsmanager.Client
	now                     func() time.Time
	log                     *slog.Logger

	ttl, ahead, minForced, backoff, fetchTimeout time.Duration

	group singleflight.Group

	mu      sync.RWMutex
	seq     uint64
	entries map[string]*entry  // by ARN
	forced  map[string]*flight // last forced refresh, by ARN

	resolves, hits, fetches, fetchErrs, fetchOKs, forcedN, coalesced, assumes atomic.Uint64
	// lastOK is the time of the last successful fetch, in Unix nanoseconds.
	lastOK atomic.Int64
}

var (
	_ secrets.Provider  = (*Provider)(nil)
	_ secrets.Refresher = (*Provider)(nil)
)

// New checks o and builds the provider. It makes no AWS call: the role is
// assumed on first use, so a tenant whose AWS account is unreachable does
// not keep Ferry from starting.
func New(o Options) (*Provider, error) {
	var problems []string
	if !ValidRegion(o.Region) {
		problems = append(problems, "region: not an AWS region")
	}
	account, err := roleAccount(o.RoleARN)
	if err != nil {
		problems = append(problems, "role_arn: "+strings.TrimPrefix(err.Error(), "awssm: "))
	}
	if len(o.ExternalID) < 2 || len(o.ExternalID) > 1224 {
		problems = append(problems, "external_id: required, 2-1224 characters")
	}
	if o.Credentials == nil {
		problems = append(problems, "credentials: the node's AWS credentials are required")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("awssm: tenant %q: %s", o.Tenant, strings.Join(problems, "; "))
	}
	p := &Provider{
		tenant: o.Tenant, region: o.Region, account: account,
		now: o.Now, log: o.Logger,
		ttl: o.TTL, ahead: o.RefreshAhead, minForced: o.MinForcedRefreshInterval,
		backoff: o.ErrorBackoff, fetchTimeout: o.FetchTimeout,
		entries: map[string]*entry{}, forced: map[string]*flight{},
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With(LogTenant, o.Tenant)
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.ttl, DefaultTTL)
	def(&p.ahead, p.ttl/5)
	if p.ahead >= p.ttl {
		p.ahead = p.ttl / 5
	}
	def(&p.minForced, DefaultMinForcedRefreshInterval)
	def(&p.backoff, DefaultErrorBackoff)
	def(&p.fetchTimeout, DefaultFetchTimeout)
	attempts := o.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	sessionDur := o.RoleSessionDuration
	def(&sessionDur, DefaultRoleSessionDuration)

	cfg := aws.Config{
		Region:           o.Region,
		Credentials:      o.Credentials,
		HTTPClient:       o.HTTPClient,
		RetryMaxAttempts: attempts,
	}
	stsEndpoint := o.STSEndpoint
	if stsEndpoint == "" {
		stsEndpoint = o.Endpoint
	}
	stsClient := sts.NewFromConfig(cfg, func(so *sts.Options) {
		if stsEndpoint != "" {
			so.BaseEndpoint = aws.String(stsEndpoint)
		}
	})
	extID := o.ExternalID
	assume := stscreds.NewAssumeRoleProvider(&countingSTS{c: stsClient, n: &p.assumes}, o.RoleARN,
		func(ao *stscreds.AssumeRoleOptions) {
			ao.ExternalID = &extID
			ao.RoleSessionName = sessionName(o.Tenant)
			ao.Duration = sessionDur
		})
	smCfg := cfg.Copy()
	smCfg.Credentials = aws.NewCredentialsCache(assume, func(co *aws.CredentialsCacheOptions) {
		co.ExpiryWindow = time.Minute
	})
	p.sm = secretsmanager.NewFromConfig(smCfg, func(so *secretsmanager.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
	return p, nil
}

// Check reports whether ref may be resolved by this provider: well formed,
// in the tenant's region and in the role's account.
func (p *Provider) Check(ref string) error {
	_, err := p.parse(ref)
	return err
}

func (p *Provider) parse(ref string) (Ref, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return r, err
	}
	return r, r.check(p.region, p.account)
}

// Stats returns the counters.
func (p *Provider) Stats() Stats {
	s := Stats{
		Resolves: p.resolves.Load(), CacheHits: p.hits.Load(), Fetches: p.fetches.Load(),
		FetchErrors: p.fetchErrs.Load(), Refreshes: p.fetchOKs.Load(), ForcedRefreshes: p.forcedN.Load(),
		RefreshesCoalesced: p.coalesced.Load(), AssumeRoles: p.assumes.Load(),
	}
	if ns := p.lastOK.Load(); ns != 0 {
		s.LastRefresh = time.Unix(0, ns)
	}
	return s
}

// Resolve implements secrets.Provider.
func (p *Provider) Resolve(ctx context.Context, ref string) (secrets.Value, error) {
	p.resolves.Add(1)
	r, err := p.parse(ref)
	if err != nil {
		return secrets.Value{}, err
	}
	now := p.now()
	p.mu.RLock()
	e := p.entries[r.ARN]
	p.mu.RUnlock()
	if e.valid(now) {
		if !now.Before(e.refreshAt) && !now.Before(e.retryAt) {
			// Refresh ahead in the background; the returned channel is
			// buffered, so nobody needs to read it.
			p.group.DoChan(r.ARN, func() (any, error) { return p.fetch(ctx, r.ARN, false) })
		}
		p.hits.Add(1)
		return e.pick(r.Field)
	}
	if e != nil && e.err != nil && now.Before(e.retryAt) {
		return secrets.Value{}, e.err
	}
	ch := p.group.DoChan(r.ARN, func() (any, error) { return p.fetch(ctx, r.ARN, false) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return secrets.Value{}, res.Err
		}
		return res.Val.(*entry).pick(r.Field)
	case <-ctx.Done():
		return secrets.Value{}, ctx.Err()
	}
}

// flight is one forced refresh, kept after it ends for the rate limit.
type flight struct {
	start time.Time
	done  chan struct{}
	e     *entry
	err   error
}

// Refresh implements secrets.Refresher: called after the source rejected
// the value (401), it fetches again, rotation-aware, at most once per
// MinForcedRefreshInterval per secret; concurrent calls share the fetch.
func (p *Provider) Refresh(ctx context.Context, ref string) (secrets.Value, error) {
	r, err := p.parse(ref)
	if err != nil {
		return secrets.Value{}, err
	}
	now := p.now()
	p.mu.Lock()
	f := p.forced[r.ARN]
	joined := f != nil && (!f.finished() || now.Sub(f.start) < p.minForced)
	if !joined {
		f = &flight{start: now, done: make(chan struct{})}
		p.forced[r.ARN] = f
	}
	p.mu.Unlock()
	if joined {
		p.coalesced.Add(1)
	} else {
		p.forcedN.Add(1)
		go func() {
			f.e, f.err = p.fetch(ctx, r.ARN, true)
			close(f.done)
		}()
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return secrets.Value{}, ctx.Err()
	}
	if f.err != nil {
		return secrets.Value{}, f.err
	}
	// The cache may hold something newer than this flight's answer.
	p.mu.RLock()
	e := p.entries[r.ARN]
	p.mu.RUnlock()
	if !e.valid(p.now()) {
		e = f.e
	}
	return e.pick(r.Field)
}

func (f *flight) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// countingSTS counts AssumeRole calls and marks their failures.
type countingSTS struct {
	c *sts.Client
	n *atomic.Uint64
}

func (c *countingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	c.n.Add(1)
	out, err := c.c.AssumeRole(ctx, in, opts...)
	if err != nil {
		return nil, &stsError{err}
	}
	return out, nil
}

// sessionName builds the STS session name, "ferry-<tenant>", within STS's
// alphabet ([\w+=,.@-]) and length (64).
func sessionName(tenant string) string {
	b := []byte("ferry-" + tenant)
	for i, c := range b {
		if !isAlnum(c) && strings.IndexByte("_+=,.@-", c) < 0 {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}
