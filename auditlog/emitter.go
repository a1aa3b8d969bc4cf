package auditlog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/internal/clock"
)

// ErrAuditUnavailable is what Admit returns when a tenant's audit trail
// cannot take one more event: the proxy answers 503 audit_unavailable
// instead of serving the request unaudited.
var ErrAuditUnavailable = errors.New("auditlog: audit trail unavailable")

// Emitter assigns each event its place in its tenant's hash chain and
// delivers it to the tenant's sinks.
//
// Each tenant has one stream per Emitter (so per process): a chain id drawn
// at start, seq 1, 2, 3, ... and each event's prev_hash, the SHA-256 of the
// previous event's canonical line (stream.go). With a signing key, the
// stream adds a signed checkpoint every CheckpointEvery events or
// CheckpointInterval. Events without a tenant form a stream of their own.
// Each of a stream's sinks has a bounded in-memory queue, delivered in
// batches with retries (sinkqueue.go); the on_sink_failure policy applies
// through Admit. Events are never spooled to disk.
//
// An Emitter is safe for concurrent use. Tenants may be added and removed
// while it runs (AddTenant, RemoveTenant: a tenant whose audit keys could
// not be read at start, a configuration reload); a tenant kept across a
// reload keeps its stream, so its chain goes on without a gap.
type Emitter struct {
	def *stream
	// perTenant is replaced whole when a tenant is added or removed, so
	// that route, on every request, reads it without a lock.
	perTenant atomic.Pointer[map[string]*stream]
	// mu guards streams and ticking, and orders additions and removals
	// with Close.
	mu      sync.Mutex
	streams []*stream
	ticking bool
	// signer is what every new stream's checkpoints are stamped with.
	region     string
	configHash atomic.Pointer[string]
	// delivery serves the sink queues of every stream.
	delivery *delivery
	clk      clock.Clock

	failures atomic.Uint64
	closing  atomic.Bool
	stop     chan struct{}
	tickers  sync.WaitGroup
	closeMu  sync.Mutex
	closeErr error
	closed   bool
}

// New returns an Emitter: each stream's events wait in a bounded in-memory
// queue per sink and are delivered in batches, in order, retried with
// backoff until a sink takes them. The deliveries of all the streams share
// a bounded set of goroutines that run only while there is something to
// send, and one goroutine adds the timed checkpoints of every stream, so a
// quiet tenant costs no goroutine. Call Close to flush and stop it. New
// fails only on options that cannot work (a stream without sinks, a nil
// sink, a duplicate sink name).
func New(opts Options) (*Emitter, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk := clock.Or(opts.Clock)
	em := &Emitter{region: opts.Region, delivery: newDelivery(log, clk), clk: clk, stop: make(chan struct{})}
	em.configHash.Store(&opts.ConfigHash)
	perTenant := make(map[string]*stream, len(opts.Tenants))
	if opts.Default != nil {
		st, err := em.newStream("", *opts.Default)
		if err != nil {
			return nil, err
		}
		em.def = st
	}
	for tenant, so := range opts.Tenants {
		if tenant == "" {
			return nil, errors.New("auditlog: a tenant stream needs a tenant id; use Options.Default for tenantless events")
		}
		st, err := em.newStream(tenant, so)
		if err != nil {
			return nil, err
		}
		perTenant[tenant] = st
	}
	em.perTenant.Store(&perTenant)
	em.mu.Lock()
	em.startTickingLocked()
	em.mu.Unlock()
	return em, nil
}

// newStream builds a stream stamped with the Emitter's region and current
// config hash, and lists it for Stats and Close.
func (em *Emitter) newStream(tenant string, so StreamOptions) (*stream, error) {
	st, err := newStream(tenant, so, chainSigner{region: em.region, configHash: *em.configHash.Load()}, em.delivery)
	if err != nil {
		return nil, err
	}
	em.mu.Lock()
	em.streams = append(em.streams, st)
	em.mu.Unlock()
	return st, nil
}

// startTickingLocked starts the one goroutine that adds timed checkpoints,
// once some stream signs them.
func (em *Emitter) startTickingLocked() {
	if em.ticking {
		return
	}
	for _, st := range em.streams {
		if st.signer.key != nil {
			em.ticking = true
			em.tickers.Add(1)
			go em.tickCheckpoints()
			return
		}
	}
}

// route returns the stream of tenant, or the default stream for an event
// without a tenant. A tenant the Emitter was not built with has no stream
// (a configuration that names every tenant makes that impossible): putting
// its events in the default stream would mix two tenants' trails.
func (em *Emitter) route(tenant string) *stream {
	if st, ok := (*em.perTenant.Load())[tenant]; ok {
		return st
	}
	if tenant == "" {
		return em.def
	}
	return nil
}

// Admit tells the proxy whether it may serve a request that will reach
// tenant's data. It returns ErrAuditUnavailable when the request's event
// could not be recorded: under PolicyBlock, when every sink's queue is full
// (no sink has taken events for as long as it took to fill queue_size of
// them); for any policy, when the tenant has no stream at all (no sink) or
// the Emitter is closing. It costs a lock and a comparison per sink, and
// never waits.
//
// Call it once per request, before the request touches the tenant's data;
// requests refused for other reasons (authentication, authorization) need
// no admission. Emit such a request's event with action "refused", or with
// error code "audit_unavailable" when Admit refused it: those two kinds are
// never given the reserve that admitted events are promised (see
// PolicyBlock), which is what keeps a flood of refusals from crowding out
// the events of admitted requests.
func (em *Emitter) Admit(tenant string) error {
	if em.closing.Load() {
		return ErrAuditUnavailable
	}
	st := em.route(tenant)
	if st == nil || !st.admit() {
		return ErrAuditUnavailable
	}
	return nil
}

// Emit records e in its tenant's stream, first setting e.Time to now (UTC)
// if it is zero, and e.ChainID, e.Seq and e.PrevHash to its place in the
// chain (any e.Sig is cleared: only the Emitter signs, and only
// checkpoints). It queues e for every sink with room and returns at once.
//
// It never panics and never returns an error: an event that cannot be
// recorded (nil event, no stream, every queue full, an Emitter being
// closed) is counted, in Failures or in StreamStats.Dropped, which the
// proxy exports as metrics. Such an event takes no place in the chain, so
// the chain stays verifiable and the counters tell what is missing. Sinks
// get the Emitter's own context, never ctx, so a client that hangs up
// mid-request is still audited. e may be reused once Emit returns.
func (em *Emitter) Emit(_ context.Context, e *Event) {
	if e == nil {
		em.failures.Add(1)
		return
	}
	now := em.clk.Now()
	if e.Time.IsZero() {
		e.Time = now.UTC()
	}
	e.Sig = ""
	st := em.route(e.Tenant)
	if st == nil || em.closing.Load() || !st.emit(e, now) {
		em.failures.Add(1)
	}
}

// Failures returns how many events could not be recorded since the
// Emitter was built, other than those dropped by a full queue (see Stats).
func (em *Emitter) Failures() uint64 {
	return em.failures.Load()
}

// Close stops the Emitter: each stream with events since its last
// checkpoint gets a final one, then the queues are flushed until ctx is
// done, and the sinks are closed. It returns an error naming how many
// events were still undelivered when ctx ended. Events emitted after Close
// began are counted as failures and Admit refuses. Later calls return the
// first call's result.
func (em *Emitter) Close(ctx context.Context) error {
	em.closeMu.Lock()
	defer em.closeMu.Unlock()
	if em.closed {
		return em.closeErr
	}
	em.closed = true
	em.mu.Lock()
	em.closing.Store(true)
	streams := slices.Clone(em.streams)
	em.mu.Unlock()
	close(em.stop)
	em.tickers.Wait()
	err := em.closeStreams(ctx, streams, em.delivery.abort)
	em.delivery.abort()
	em.closeErr = err
	return em.closeErr
}

// closeStreams ends streams (a final checkpoint each), flushes their queues
// until ctx is done and closes their sinks. At ctx's end it calls abort
// (nil: the sink calls in progress run out their timeouts). It names how
// many events were still undelivered when ctx ended.
func (em *Emitter) closeStreams(ctx context.Context, streams []*stream, abort func()) error {
	for _, st := range streams {
		st.close(em.clk.Now())
	}
	flushed := make(chan struct{})
	go func() {
		for _, st := range streams {
			for _, q := range st.queues {
				<-q.done
			}
		}
		close(flushed)
	}()
	select {
	case <-flushed:
	case <-ctx.Done():
		// The deadline: the sink calls in progress give up and their
		// batches stay queued.
		if abort != nil {
			abort()
		}
		for _, st := range streams {
			for _, q := range st.queues {
				q.stop()
			}
		}
		<-flushed
	}
	undelivered := 0
	var errs []error
	for _, st := range streams {
		for _, q := range st.queues {
			undelivered += q.len()
			if err := q.sink.Close(); err != nil {
				errs = append(errs, fmt.Errorf("auditlog: closing sink %s: %w", q.name, err))
			}
		}
	}
	if undelivered > 0 {
		errs = append([]error{fmt.Errorf("auditlog: %d queued events undelivered at close", undelivered)}, errs...)
	}
	return errors.Join(errs...)
}

// tickCheckpoints adds a checkpoint to each signed stream every interval
// if events came since its last one, so a quiet stream is still signed up
// to its last event soon after it. One goroutine serves every stream; it
// wakes every tick (the shortest interval, at most a second).
func (em *Emitter) tickCheckpoints() {
	defer em.tickers.Done()
	for {
		tick := time.Second
		var signed []*stream
		em.mu.Lock()
		for _, st := range em.streams {
			if st.signer.key != nil {
				signed = append(signed, st)
				tick = min(tick, st.signer.interval)
			}
		}
		em.mu.Unlock()
		t := em.clk.NewTimer(tick)
		select {
		case <-em.stop:
			t.Stop()
			return
		case now := <-t.C():
			for _, st := range signed {
				st.checkpointIfDue(now)
			}
		}
	}
}

// StreamStats describes one stream, for metrics. Counters only grow.
type StreamStats struct {
	// Tenant is "" for the default stream.
	Tenant  string
	ChainID string
	// Seq is the last seq given out.
	Seq uint64
	// Emitted counts events given a place in the chain, checkpoints
	// included.
	Emitted uint64
	// Dropped counts events no sink queue had room for: they are not in
	// the trail.
	Dropped uint64
	// Refused counts Admit calls answered ErrAuditUnavailable.
	Refused uint64
	// Checkpoints counts signed checkpoints added.
	Checkpoints uint64
	Sinks       []SinkStats
}

// SinkStats describes one sink of a stream.
type SinkStats struct {
	Name string
	// Queued is how many events wait for this sink now (a gauge).
	Queued int
	// Delivered counts events the sink accepted.
	Delivered uint64
	// Lost counts events of the chain this sink's full queue could not
	// take (another sink of the stream took them): this sink's copy of the
	// trail has a gap there.
	Lost uint64
	// Failures counts failed delivery attempts (batches).
	Failures uint64
	// LastSuccess is when the sink last accepted a batch; zero if never.
	LastSuccess time.Time
}

// Stats returns a snapshot of every stream, the default one first when
// there is one.
func (em *Emitter) Stats() []StreamStats {
	em.mu.Lock()
	streams := slices.Clone(em.streams)
	em.mu.Unlock()
	out := make([]StreamStats, 0, len(streams))
	for _, st := range streams {
		s := st.stats()
		for _, q := range st.queues {
			s.Sinks = append(s.Sinks, q.stats())
		}
		out = append(out, s)
	}
	return out
}

// checkStreamOptions fills so's defaults, or says why it cannot work.
func checkStreamOptions(tenant string, so *StreamOptions) error {
	what := fmt.Sprintf("auditlog: tenant %q", tenant)
	if tenant == "" {
		what = "auditlog: default stream"
	}
	if len(so.Sinks) == 0 {
		return errors.New(what + ": no sinks")
	}
	switch so.OnSinkFailure {
	case "":
		so.OnSinkFailure = PolicyBlock
	case PolicyBlock, PolicyDrop:
	default:
		return fmt.Errorf("%s: unknown on_sink_failure %q", what, so.OnSinkFailure)
	}
	so.QueueSize = orDefault(so.QueueSize, DefaultQueueSize)
	so.CheckpointEvery = orDefault(so.CheckpointEvery, DefaultCheckpointEvery)
	so.CheckpointInterval = orDefault(so.CheckpointInterval, DefaultCheckpointInterval)
	so.RetryMin = orDefault(so.RetryMin, DefaultRetryMin)
	so.RetryMax = max(orDefault(so.RetryMax, DefaultRetryMax), so.RetryMin)
	if so.SigningKey != nil && len(so.SigningKey) != ed25519.PrivateKeySize {
		return errors.New(what + ": signing key is not an Ed25519 private key")
	}
	// The caller's slice is not ours to fill in.
	so.Sinks = slices.Clone(so.Sinks)
	names := map[string]bool{}
	for i := range so.Sinks {
		sk := &so.Sinks[i]
		if sk.Sink == nil {
			return fmt.Errorf("%s: sink %d is nil", what, i)
		}
		if sk.Name == "" {
			sk.Name = fmt.Sprintf("sink%d", i)
		}
		if names[sk.Name] {
			return fmt.Errorf("%s: sink name %q used twice", what, sk.Name)
		}
		names[sk.Name] = true
	}
	return nil
}
