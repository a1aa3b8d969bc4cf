package awssm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
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

	resolves, hits, fetches, fetchErrs, forcedN, coalesced, assumes atomic.Uint64
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
	return Stats{
		Resolves: p.resolves.Load(), CacheHits: p.hits.Load(), Fetches: p.fetches.Load(),
		FetchErrors: p.fetchErrs.Load(), ForcedRefreshes: p.forcedN.Load(),
		RefreshesCoalesced: p.coalesced.Load(), AssumeRoles: p.assumes.Load(),
	}
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

// entry is the cache's state for one secret. Entries are never modified
// once stored; a fetch stores a new one.
type entry struct {
	raw       secrets.Value
	fields    map[string]secrets.Value
	hasValue  bool
	versionID string // version served
	currentID string // the AWSCURRENT version when fetched
	pending   bool   // serving AWSPENDING (rotation in progress)
	seq       uint64 // order of the fetch that produced the value
	expires   time.Time
	refreshAt time.Time
	err       error     // last failure, while retryAt is ahead
	retryAt   time.Time // no fetch before this after a failure
}

func (e *entry) valid(now time.Time) bool { return e != nil && e.hasValue && now.Before(e.expires) }

func (e *entry) pick(field string) (secrets.Value, error) {
	if field == "" {
		return e.raw, nil
	}
	if v, ok := e.fields[field]; ok {
		return v, nil
	}
	return secrets.Value{}, fmt.Errorf("awssm: the secret has no string field %q: %w", field, secrets.ErrNotFound)
}

// version is one GetSecretValue answer.
type version struct {
	value secrets.Value
	id    string
}

// fetch gets the secret and stores the result. It runs detached from the
// caller's cancellation (other callers wait on it) but bounded by
// FetchTimeout.
func (p *Provider) fetch(ctx context.Context, arn string, forced bool) (*entry, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.fetchTimeout)
	defer cancel()
	p.mu.Lock()
	p.seq++
	seq := p.seq
	old := p.entries[arn]
	p.mu.Unlock()

	cur, err := p.get(ctx, arn, stageCurrent)
	if err != nil {
		return nil, p.fail(arn, seq, err)
	}
	// AWSPENDING is asked for when a rotation may be in progress: the source
	// rejected the version we serve and it is still AWSCURRENT (forced), or
	// we already serve AWSPENDING and AWSCURRENT has not moved since.
	var pend *version
	if old != nil && old.hasValue && (forced && old.same(cur) || old.pending && cur.id != "" && old.currentID == cur.id) {
		pv, err := p.get(ctx, arn, stagePending)
		switch {
		case err == nil:
			pend = pv
			p.log.Info("secret rotation in progress: serving the pending version", LogSecret, arn, LogStage, stagePending)
		case errors.Is(err, secrets.ErrNotFound):
			// No rotation in progress: the current version is all there is.
		default:
			p.logFailure(arn, err)
		}
	}
	return p.store(arn, seq, cur, pend), nil
}

// same reports whether v is the version e serves.
func (e *entry) same(v *version) bool {
	if e.versionID != "" && v.id != "" {
		return e.versionID == v.id
	}
	return e.raw.Equal(v.value)
}

func (p *Provider) get(ctx context.Context, arn, stage string) (*version, error) {
	p.fetches.Add(1)
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}
	if stage != stageCurrent {
		// Without a stage AWS answers AWSCURRENT; leaving it out also
		// matches emulators that track the current version apart from labels.
		in.VersionStage = aws.String(stage)
	}
	out, err := p.sm.GetSecretValue(ctx, in)
	if err != nil {
		var rnf *smtypes.ResourceNotFoundException
		if stage == stagePending && errors.As(err, &rnf) {
			return nil, secrets.ErrNotFound
		}
		return nil, classify(ctx, err)
	}
	if out.ARN != nil && *out.ARN != arn {
		// Never serve an answer about another secret.
		return nil, &Error{Op: OpGetSecretValue, Code: "ARNMismatch", kinds: []error{secrets.ErrNotFound}}
	}
	v := &version{id: aws.ToString(out.VersionId)}
	switch {
	case out.SecretString != nil:
		v.value = secrets.NewValue([]byte(*out.SecretString))
	default:
		v.value = secrets.NewValue(out.SecretBinary)
	}
	return v, nil
}

// store records a successful fetch, unless a fetch that started later has
// stored already.
func (p *Provider) store(arn string, seq uint64, cur, pend *version) *entry {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.entries[arn]
	if old != nil && old.seq > seq && old.valid(now) {
		return old
	}
	e := &entry{hasValue: true, currentID: cur.id, seq: seq, expires: now.Add(p.ttl), refreshAt: now.Add(p.ttl - p.ahead)}
	switch {
	case pend != nil:
		e.setValue(pend)
		e.pending = true
	default:
		e.setValue(cur)
	}
	p.entries[arn] = e
	return e
}

func (e *entry) setValue(v *version) {
	e.raw, e.versionID = v.value, v.id
	e.fields = jsonFields(v.value.Reveal())
}

// fail records a failed fetch: the value, if still valid, keeps being
// served until it expires; no new fetch before ErrorBackoff.
func (p *Provider) fail(arn string, seq uint64, err error) error {
	p.fetchErrs.Add(1)
	p.logFailure(arn, err)
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.entries[arn]
	if old != nil && old.seq > seq && old.valid(now) {
		return err // a later fetch succeeded meanwhile
	}
	e := &entry{err: err, retryAt: now.Add(p.backoff), seq: seq}
	if old.valid(now) {
		e.raw, e.fields, e.hasValue, e.versionID, e.currentID, e.pending = old.raw, old.fields, true, old.versionID, old.currentID, old.pending
		e.expires, e.refreshAt, e.seq = old.expires, old.refreshAt, old.seq
	}
	p.entries[arn] = e
	return err
}

func (p *Provider) logFailure(arn string, err error) {
	var ae *Error
	if errors.As(err, &ae) {
		p.log.Warn("secret fetch failed", LogSecret, arn, LogOp, ae.Op, LogCode, ae.Code, LogError, ae.Error())
		return
	}
	p.log.Warn("secret fetch failed", LogSecret, arn, LogError, "unclassified")
}

// jsonFields returns the top-level string fields of a JSON object secret,
// or nil. Parse errors are dropped unseen: their text can quote the secret.
func jsonFields(raw []byte) map[string]secrets.Value {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	fields := make(map[string]secrets.Value, len(m))
	for k, rv := range m {
		var s string
		if json.Unmarshal(rv, &s) == nil {
			fields[k] = secrets.NewValue([]byte(s))
		}
	}
	return fields
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
