package auditlog

import (
	"context"
	"sync/atomic"
	"time"
)

// Emitter routes each Event to the sink of the event's tenant.
//
// This first cut is synchronous: Emit returns only after the sink's Write
// has returned, so a slow sink slows the request that emits. The bounded
// in-memory queue with the `block` policy (no audit sink, no PHI response)
// replaces that later; events are never spooled to disk either way.
//
// An Emitter is safe for concurrent use. Its routing table is fixed at
// construction; a configuration reload builds a new Emitter.
type Emitter struct {
	def       Sink
	perTenant map[string]Sink
	failures  atomic.Uint64
}

// NewEmitter returns an Emitter that writes each event to perTenant[tenant],
// or to defaultSink when the event has no tenant (a refused request) or its
// tenant has no entry. The map is copied, so the caller may reuse it.
//
// An entry with a nil sink is kept, not dropped: events for that tenant then
// count as failures instead of leaking into the default sink, which may be
// read by people who must not see that tenant's trail. The "" key is ignored:
// tenantless events always go to defaultSink. A nil defaultSink is allowed;
// events routed to it count as failures.
//
// The Emitter does not own the sinks; whoever built them closes them.
func NewEmitter(defaultSink Sink, perTenant map[string]Sink) *Emitter {
	m := make(map[string]Sink, len(perTenant))
	for tenant, s := range perTenant {
		if tenant != "" {
			m[tenant] = s
		}
	}
	return &Emitter{def: defaultSink, perTenant: m}
}

// Emit writes e to its sink, first setting e.Time to now (UTC) if it is zero.
//
// It never panics and never returns an error: an event that cannot be
// written (nil event, no sink, a sink error or a sink panic) is counted in
// Failures, which the proxy exports as a metric and alerts on. The sink gets
// ctx without its cancellation, so a client that hangs up mid-request is
// still audited. e may be reused once Emit returns.
func (em *Emitter) Emit(ctx context.Context, e *Event) {
	if e == nil {
		em.failures.Add(1)
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	s, ok := em.perTenant[e.Tenant]
	if !ok {
		s = em.def
	}
	if s == nil {
		em.failures.Add(1)
		return
	}
	if ctx == nil {
		// A nil ctx is a caller bug, but it must not cost an audit record.
		ctx = context.Background()
	}
	if !em.write(context.WithoutCancel(ctx), s, e) {
		em.failures.Add(1)
	}
}

// write calls s.Write and reports whether it succeeded, turning a panic in a
// sink (third-party sinks will exist) into a failure, because a broken sink
// must not take the request, or the process, down with it.
func (em *Emitter) write(ctx context.Context, s Sink, e *Event) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return s.Write(ctx, e) == nil
}

// Failures returns how many events could not be written since the Emitter
// was built.
func (em *Emitter) Failures() uint64 {
	return em.failures.Load()
}
