package auditlog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// A running Emitter's tenants change in two cases: a tenant whose audit
// keys or sinks could not be set up at start joins once they can (until
// then Admit refuses its requests), and a configuration reload adds and
// removes tenants. A tenant that stays keeps its stream: the same chain,
// the next seq.

// ErrTenantExists is AddTenant's answer for a tenant that has a stream.
var ErrTenantExists = errors.New("auditlog: the tenant already has a stream")

// AddTenant gives tenant a stream of its own, from now on. It fails on
// options New would refuse, for a tenant that has one, and once Close
// began; the sinks are then not the Emitter's, and the caller closes them.
func (em *Emitter) AddTenant(tenant string, so StreamOptions) error {
	if tenant == "" {
		return errors.New("auditlog: a tenant stream needs a tenant id")
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.closing.Load() {
		return ErrAuditUnavailable
	}
	cur := *em.perTenant.Load()
	if _, ok := cur[tenant]; ok {
		return fmt.Errorf("%w: %q", ErrTenantExists, tenant)
	}
	st, err := newStream(tenant, so, chainSigner{region: em.region, configHash: *em.configHash.Load()}, em.delivery)
	if err != nil {
		return err
	}
	em.streams = append(em.streams, st)
	next := maps.Clone(cur)
	next[tenant] = st
	em.perTenant.Store(&next)
	em.startTickingLocked()
	return nil
}

// HasTenant reports whether tenant has a stream: whether its requests can
// be admitted at all.
func (em *Emitter) HasTenant(tenant string) bool {
	_, ok := (*em.perTenant.Load())[tenant]
	return ok
}

// RemoveTenant ends tenant's stream: from now on its requests are not
// admitted, its chain gets a final checkpoint (when it has a signing key
// and events since the last), and what its queues hold is delivered until
// ctx is done; then its sinks are closed. It reports events left
// undelivered. A tenant without a stream is not an error.
func (em *Emitter) RemoveTenant(ctx context.Context, tenant string) error {
	em.mu.Lock()
	cur := *em.perTenant.Load()
	st, ok := cur[tenant]
	if !ok || em.closing.Load() {
		em.mu.Unlock()
		return nil
	}
	next := maps.Clone(cur)
	delete(next, tenant)
	em.perTenant.Store(&next)
	em.streams = slices.DeleteFunc(em.streams, func(s *stream) bool { return s == st })
	em.mu.Unlock()
	return em.closeStreams(ctx, []*stream{st}, nil)
}

// SetConfigHash is what checkpoints are stamped with from now on (a
// reload's new configuration).
func (em *Emitter) SetConfigHash(h string) {
	em.configHash.Store(&h)
	em.mu.Lock()
	defer em.mu.Unlock()
	for _, st := range em.streams {
		st.setConfigHash(h)
	}
}
