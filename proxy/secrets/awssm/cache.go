package awssm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// The cache: one entry per secret, and how it is fetched from Secrets
// Manager, stored, and failed.

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
	p.fetchOKs.Add(1)
	p.lastOK.Store(now.UnixNano())
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
