package auditlog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ErrAuditUnavailable is what Admit returns when a tenant's audit trail
// cannot take one more event: the proxy answers 503 audit_unavailable
// instead of serving the request unaudited.
var ErrAuditUnavailable = errors.New("auditlog: audit trail unavailable")

// Policy is what a stream does when its sinks cannot keep up.
type Policy string

// The on_sink_failure policies.
const (
	// PolicyBlock (the default): once every sink's queue is full, Admit
	// refuses requests that would touch the tenant's data, so nothing is
	// served unaudited. Events of requests already admitted are still
	// queued, in a reserve as large as the queue.
	PolicyBlock Policy = "block"
	// PolicyDrop: requests are always admitted; an event that finds every
	// queue full is dropped and counted (Stats, StreamStats.Dropped).
	PolicyDrop Policy = "drop"
)

// Defaults for New. The config documents each next to its field.
const (
	DefaultQueueSize          = 10000
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultBatchSize          = 100
	DefaultSinkTimeout        = 10 * time.Second
	DefaultRetryMin           = 100 * time.Millisecond
	DefaultRetryMax           = 30 * time.Second
	// defaultMaxBatchBytes bounds a batch for sinks without their own
	// limits (BatchLimiter).
	defaultMaxBatchBytes = 4 << 20
)

// Options configure New.
type Options struct {
	// Region and ConfigHash are written on the checkpoints the Emitter
	// adds, like the proxy writes them on request events.
	Region     string
	ConfigHash string
	// Default receives events without a tenant (requests refused before
	// authentication). nil counts such events as failures, as are events
	// of tenants not in Tenants.
	Default *StreamOptions
	// Tenants holds one stream per tenant id.
	Tenants map[string]StreamOptions
	// Logger receives delivery failures and recoveries (never event
	// content). nil discards them.
	Logger *slog.Logger
}

// StreamOptions configure one tenant's stream: its sinks, its queue and its
// checkpoints.
type StreamOptions struct {
	// Sinks are where the stream's events go; each gets every event, from
	// its own queue, so a slow sink does not hold back the others.
	Sinks []SinkOptions
	// OnSinkFailure is PolicyBlock (default, also for "") or PolicyDrop.
	OnSinkFailure Policy
	// QueueSize bounds each sink's queue, in events. Default
	// DefaultQueueSize. Under PolicyBlock a further QueueSize events of
	// admitted requests may be held (see PolicyBlock).
	QueueSize int
	// SigningKey signs checkpoints; nil means no checkpoints (the chain is
	// still kept).
	SigningKey ed25519.PrivateKey
	// CheckpointEvery adds a checkpoint after this many events. Default
	// DefaultCheckpointEvery.
	CheckpointEvery int
	// CheckpointInterval adds a checkpoint when events have been added and
	// this long has passed since the last one. Default
	// DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff between
	// attempts to deliver a batch that failed. Defaults DefaultRetryMin,
	// DefaultRetryMax.
	RetryMin, RetryMax time.Duration
}

// SinkOptions is one sink of a stream and how it is fed.
type SinkOptions struct {
	// Name labels the sink in Stats and logs; unique within a stream.
	Name string
	// Sink is owned by the Emitter from New on: Close closes it.
	Sink BatchSink
	// BatchSize is the most events per WriteBatch. Default
	// DefaultBatchSize, capped by the sink's BatchLimits.
	BatchSize int
	// FlushInterval is how long a batch may wait to fill before it is
	// sent anyway; 0 sends whatever is queued at once.
	FlushInterval time.Duration
	// Timeout bounds one WriteBatch. Default DefaultSinkTimeout.
	Timeout time.Duration
}

// Emitter assigns each event its place in its tenant's hash chain and
// delivers it to the tenant's sinks.
//
// Each tenant has one stream per Emitter (so per process): a chain id drawn
// at start, seq 1, 2, 3, ... and each event's prev_hash, the SHA-256 of the
// previous event's canonical line. With a signing key, the stream adds a
// signed checkpoint every CheckpointEvery events or CheckpointInterval.
// Events without a tenant form a stream of their own.
//
// An Emitter comes in two forms. NewEmitter writes each event to its sink
// before Emit returns (the first cut, still used by tests and simple
// embeddings); New queues events in memory, per sink, delivers them in
// batches with retries, and applies the on_sink_failure policy through
// Admit. Events are never spooled to disk in either.
//
// An Emitter is safe for concurrent use. Its routing table is fixed at
// construction; a configuration reload builds a new Emitter (and Closes the
// old one, which flushes it).
type Emitter struct {
	def       *stream
	perTenant map[string]*stream
	// lazy holds the streams a synchronous Emitter starts on first use
	// for tenants without a sink of their own: they share the default
	// sink but each keeps its own chain.
	lazy    sync.Map // tenant -> *stream
	lazyMu  sync.Mutex
	streams []*stream
	queued  bool

	region, configHash string
	log                *slog.Logger

	// deliver runs the queued form's deliveries, for every stream.
	deliver deliverer

	failures atomic.Uint64
	closing  atomic.Bool
	// abort is canceled at Close's deadline: it aborts the sink calls in
	// progress (one context for every worker, rather than one each, which
	// would keep a map of children and a channel per sink of every tenant).
	abort       context.Context
	abortCancel context.CancelFunc
	stop        chan struct{}
	tickers     sync.WaitGroup
	closeMu     sync.Mutex
	closeErr    error
	closed      bool
}

// NewEmitter returns a synchronous Emitter that writes each event to
// perTenant[tenant], or to defaultSink when the event has no tenant (a
// refused request) or its tenant has no entry. The map is copied, so the
// caller may reuse it.
//
// Events are chained (chain_id, seq, prev_hash) per tenant, also when
// several tenants share the default sink, but there are
// no checkpoints: NewEmitter has no signing keys. An event whose write fails
// takes no place in the chain.
//
// An entry with a nil sink is kept, not dropped: events for that tenant then
// count as failures instead of leaking into the default sink, which may be
// read by people who must not see that tenant's trail. The "" key is ignored:
// tenantless events always go to defaultSink. A nil defaultSink is allowed;
// events routed to it count as failures.
//
// The Emitter does not own the sinks; whoever built them closes them.
func NewEmitter(defaultSink Sink, perTenant map[string]Sink) *Emitter {
	em := &Emitter{perTenant: make(map[string]*stream, len(perTenant)), log: discardLogger(), stop: make(chan struct{})}
	em.def = em.newStream("")
	em.def.sync = defaultSink
	for tenant, s := range perTenant {
		if tenant != "" {
			st := em.newStream(tenant)
			st.sync = s
			em.perTenant[tenant] = st
		}
	}
	return em
}

// New returns a queued Emitter: each stream's events wait in a bounded
// in-memory queue per sink and are delivered in batches, in order, retried
// with backoff until a sink takes them. The deliveries of all the streams
// share a bounded set of goroutines that run only while there is something
// to send, and one goroutine adds the timed checkpoints of every stream, so
// a quiet tenant costs no goroutine. Call
// Close to flush and stop it. New fails only on options that cannot work
// (a stream without sinks, a nil sink, a duplicate sink name).
func New(opts Options) (*Emitter, error) {
	log := opts.Logger
	if log == nil {
		log = discardLogger()
	}
	em := &Emitter{
		perTenant: make(map[string]*stream, len(opts.Tenants)), queued: true,
		region: opts.Region, configHash: opts.ConfigHash, log: log, stop: make(chan struct{}),
	}
	em.abort, em.abortCancel = context.WithCancel(context.Background())
	if opts.Default != nil {
		st, err := em.newQueuedStream("", *opts.Default)
		if err != nil {
			return nil, err
		}
		em.def = st
	}
	for tenant, so := range opts.Tenants {
		if tenant == "" {
			return nil, errors.New("auditlog: a tenant stream needs a tenant id; use Options.Default for tenantless events")
		}
		st, err := em.newQueuedStream(tenant, so)
		if err != nil {
			return nil, err
		}
		em.perTenant[tenant] = st
	}
	var signed []*stream
	tick := time.Second
	for _, st := range em.streams {
		if st.signer != nil {
			signed = append(signed, st)
			tick = min(tick, st.interval)
		}
	}
	if len(signed) > 0 {
		em.tickers.Add(1)
		go em.tickCheckpoints(signed, tick)
	}
	return em, nil
}

func (em *Emitter) newStream(tenant string) *stream {
	st := &stream{em: em, tenant: tenant, chainID: newChainID()}
	em.streams = append(em.streams, st)
	return st
}

func (em *Emitter) newQueuedStream(tenant string, so StreamOptions) (*stream, error) {
	what := fmt.Sprintf("auditlog: tenant %q", tenant)
	if tenant == "" {
		what = "auditlog: default stream"
	}
	if len(so.Sinks) == 0 {
		return nil, errors.New(what + ": no sinks")
	}
	switch so.OnSinkFailure {
	case "":
		so.OnSinkFailure = PolicyBlock
	case PolicyBlock, PolicyDrop:
	default:
		return nil, fmt.Errorf("%s: unknown on_sink_failure %q", what, so.OnSinkFailure)
	}
	so.QueueSize = orDefault(so.QueueSize, DefaultQueueSize)
	so.CheckpointEvery = orDefault(so.CheckpointEvery, DefaultCheckpointEvery)
	so.CheckpointInterval = orDefault(so.CheckpointInterval, DefaultCheckpointInterval)
	so.RetryMin = orDefault(so.RetryMin, DefaultRetryMin)
	so.RetryMax = max(orDefault(so.RetryMax, DefaultRetryMax), so.RetryMin)
	if so.SigningKey != nil && len(so.SigningKey) != ed25519.PrivateKeySize {
		return nil, errors.New(what + ": signing key is not an Ed25519 private key")
	}

	st := em.newStream(tenant)
	st.policy = so.OnSinkFailure
	st.softCap = so.QueueSize
	st.hardCap = 2 * so.QueueSize
	st.every = so.CheckpointEvery
	st.interval = so.CheckpointInterval
	st.lastCheckpoint = time.Now()
	if so.SigningKey != nil {
		st.signer = so.SigningKey
		st.kid = KeyID(so.SigningKey.Public().(ed25519.PublicKey))
	}
	names := map[string]bool{}
	for i, sk := range so.Sinks {
		if sk.Sink == nil {
			return nil, fmt.Errorf("%s: sink %d is nil", what, i)
		}
		if sk.Name == "" {
			sk.Name = fmt.Sprintf("sink%d", i)
		}
		if names[sk.Name] {
			return nil, fmt.Errorf("%s: sink name %q used twice", what, sk.Name)
		}
		names[sk.Name] = true
		w := &worker{
			st: st, name: sk.Name, sink: sk.Sink,
			batchSize: orDefault(sk.BatchSize, DefaultBatchSize), maxBytes: defaultMaxBatchBytes,
			flush: sk.FlushInterval, timeout: orDefault(sk.Timeout, DefaultSinkTimeout),
			retryMin: so.RetryMin, retryMax: so.RetryMax,
			done: make(chan struct{}),
		}
		if l, ok := sk.Sink.(BatchLimiter); ok {
			if n, b := l.BatchLimits(); n > 0 || b > 0 {
				if n > 0 {
					w.batchSize = min(w.batchSize, n)
				}
				if b > 0 {
					w.maxBytes = b
				}
			}
		}
		st.workers = append(st.workers, w)
	}
	return st, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// route returns the stream of tenant. A queued Emitter has streams only for
// the tenants it was built with, and the default stream for events without
// a tenant; an event of any other tenant has no stream (a configuration
// that names every tenant makes that impossible), because putting it in the
// default stream would mix two tenants' trails. A synchronous Emitter
// starts a chain of its own for such a tenant, written to the default sink.
func (em *Emitter) route(tenant string) *stream {
	if st, ok := em.perTenant[tenant]; ok {
		return st
	}
	if tenant == "" || em.def == nil {
		return em.def
	}
	if em.queued {
		return nil
	}
	if st, ok := em.lazy.Load(tenant); ok {
		return st.(*stream)
	}
	em.lazyMu.Lock()
	defer em.lazyMu.Unlock()
	if st, ok := em.lazy.Load(tenant); ok {
		return st.(*stream)
	}
	st := &stream{em: em, tenant: tenant, chainID: newChainID(), sync: em.def.sync}
	em.lazy.Store(tenant, st)
	return st
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
	if st == nil {
		return ErrAuditUnavailable
	}
	if !em.queued {
		if st.sync == nil {
			return ErrAuditUnavailable
		}
		return nil
	}
	if st.policy == PolicyDrop {
		return nil
	}
	st.mu.Lock()
	ok := false
	for _, w := range st.workers {
		if w.q.n < st.softCap {
			ok = true
			break
		}
	}
	st.mu.Unlock()
	if !ok {
		st.refused.Add(1)
		return ErrAuditUnavailable
	}
	return nil
}

// Emit records e in its tenant's stream, first setting e.Time to now (UTC)
// if it is zero, and e.ChainID, e.Seq and e.PrevHash to its place in the
// chain (any e.Sig is cleared: only the Emitter signs, and only
// checkpoints). A synchronous Emitter (NewEmitter) writes it before
// returning; a queued one (New) queues it for every sink with room and
// returns at once.
//
// It never panics and never returns an error: an event that cannot be
// recorded (nil event, no stream, every queue full, a sink error or panic
// in a synchronous Emitter, an Emitter being closed) is counted, in
// Failures or in StreamStats.Dropped, which the proxy exports as metrics.
// Such an event takes no place in the chain, so the chain stays verifiable
// and the counters tell what is missing. The sink gets ctx without its
// cancellation (synchronous) or the Emitter's own context (queued), so a
// client that hangs up mid-request is still audited. e may be reused once
// Emit returns.
func (em *Emitter) Emit(ctx context.Context, e *Event) {
	if e == nil {
		em.failures.Add(1)
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	e.Sig = ""
	st := em.route(e.Tenant)
	if st == nil {
		em.failures.Add(1)
		return
	}
	if !em.queued {
		if ctx == nil {
			// A nil ctx is a caller bug, but it must not cost an audit record.
			ctx = context.Background()
		}
		if !st.emitSync(context.WithoutCancel(ctx), e) {
			em.failures.Add(1)
		}
		return
	}
	if em.closing.Load() {
		em.failures.Add(1)
		return
	}
	st.emitQueued(e)
}

// Failures returns how many events could not be recorded since the
// Emitter was built, other than those dropped by a full queue (see Stats).
func (em *Emitter) Failures() uint64 {
	return em.failures.Load()
}

// Close stops a queued Emitter: each stream with events since its last
// checkpoint gets a final one, then the queues are flushed until ctx is
// done, and the sinks are closed. It returns an error naming how many
// events were still undelivered when ctx ended. Events emitted after Close
// began are counted as failures and Admit refuses. Later calls return the
// first call's result. On a synchronous Emitter it only marks it closed.
func (em *Emitter) Close(ctx context.Context) error {
	em.closeMu.Lock()
	defer em.closeMu.Unlock()
	if em.closed {
		return em.closeErr
	}
	em.closed = true
	em.closing.Store(true)
	if !em.queued {
		return nil
	}
	close(em.stop)
	em.tickers.Wait()
	for _, st := range em.streams {
		st.mu.Lock()
		if st.signer != nil && st.sinceCheckpoint > 0 {
			st.checkpointLocked(time.Now())
		}
		st.closed = true
		for _, w := range st.workers {
			w.draining = true
			w.kickLocked()
		}
		st.mu.Unlock()
	}
	flushed := make(chan struct{})
	go func() {
		for _, st := range em.streams {
			for _, w := range st.workers {
				<-w.done
			}
		}
		close(flushed)
	}()
	select {
	case <-flushed:
	case <-ctx.Done():
		for _, st := range em.streams {
			st.mu.Lock()
			for _, w := range st.workers {
				w.stopLocked()
			}
			st.mu.Unlock()
		}
		<-flushed
	}
	undelivered := 0
	var errs []error
	for _, st := range em.streams {
		st.mu.Lock()
		for _, w := range st.workers {
			undelivered += w.q.n
		}
		st.mu.Unlock()
		for _, w := range st.workers {
			if err := w.sink.Close(); err != nil {
				errs = append(errs, fmt.Errorf("auditlog: closing sink %s: %w", w.name, err))
			}
		}
	}
	em.abortCancel()
	if undelivered > 0 {
		errs = append([]error{fmt.Errorf("auditlog: %d queued events undelivered at close", undelivered)}, errs...)
	}
	em.closeErr = errors.Join(errs...)
	return em.closeErr
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
	out := make([]StreamStats, 0, len(em.streams))
	for _, st := range em.streams {
		st.mu.Lock()
		s := StreamStats{
			Tenant: st.tenant, ChainID: st.chainID, Seq: st.seq,
			Emitted: st.emitted, Dropped: st.dropped.Load(), Refused: st.refused.Load(), Checkpoints: st.checkpoints,
		}
		for _, w := range st.workers {
			ss := SinkStats{
				Name: w.name, Queued: w.q.n, Delivered: w.delivered.Load(), Lost: w.lost, Failures: w.failures.Load(),
			}
			if ns := w.lastSuccess.Load(); ns != 0 {
				ss.LastSuccess = time.Unix(0, ns)
			}
			s.Sinks = append(s.Sinks, ss)
		}
		st.mu.Unlock()
		out = append(out, s)
	}
	return out
}

// stream is one tenant's chain and its delivery.
type stream struct {
	em      *Emitter
	tenant  string
	chainID string

	mu       sync.Mutex
	seq      uint64
	prevHash string
	lastTime time.Time // records' times never go backwards

	// Synchronous form.
	sync Sink

	// Queued form.
	workers          []*worker
	policy           Policy
	softCap, hardCap int
	signer           ed25519.PrivateKey
	kid              string
	every            int
	interval         time.Duration
	sinceCheckpoint  int
	lastCheckpoint   time.Time
	closed           bool // Close began; guarded by mu
	emitted          uint64
	checkpoints      uint64
	dropped, refused atomic.Uint64
}

// getScratch and putScratch lend the buffer an event is encoded in before
// its line is copied out, from the pool every stream shares (bufPool), so a
// tenant keeps no buffer of its own between events.
func getScratch() *[]byte { return bufPool.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		bufPool.Put(b)
	}
}

// lineWriter is implemented by sinks that can write a line already
// encoded (JSONLinesSink), which saves a second encoding and guarantees
// that the hashed bytes are the written bytes.
type lineWriter interface {
	writeLine(line []byte) error
}

func (st *stream) emitSync(ctx context.Context, e *Event) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sync == nil {
		return false
	}
	e.ChainID, e.Seq, e.PrevHash = st.chainID, st.seq+1, st.prevHash
	buf := getScratch()
	defer putScratch(buf)
	*buf = e.AppendJSON((*buf)[:0])
	if !writeSync(ctx, st.sync, e, *buf) {
		return false
	}
	st.seq++
	st.prevHash = LineHash(*buf)
	return true
}

// writeSync writes one event and reports whether it succeeded, turning a
// panic in a sink (third-party sinks will exist) into a failure, because a
// broken sink must not take the request, or the process, down with it.
func writeSync(ctx context.Context, s Sink, e *Event, line []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if lw, isLW := s.(lineWriter); isLW {
		return lw.writeLine(line) == nil
	}
	return s.Write(ctx, e) == nil
}

// emitQueued places e in the chain and in the queue of every sink with
// room. The lock is held from seq assignment to enqueueing, so every sink
// sees the stream in seq order.
func (st *stream) emitQueued(e *Event) {
	// Refusals, including the 503s Admit caused, never reach the reserve:
	// it exists for requests that were admitted and already served.
	limit := st.softCap
	if st.policy == PolicyBlock && e.Action != ActionRefused && e.ErrorCode != ErrorCodeAuditUnavailable {
		limit = st.hardCap
	}
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		// Close has added the final checkpoint: nothing may follow it.
		st.em.failures.Add(1)
		return
	}
	if !st.appendLocked(e, limit, now) {
		st.dropped.Add(1)
		return
	}
	st.sinceCheckpoint++
	if st.signer != nil && st.sinceCheckpoint >= st.every {
		st.checkpointLocked(now)
	}
}

// appendLocked gives e the next place in the chain and queues it for every
// sink whose queue holds fewer than limit events. It reports false, and
// leaves the chain untouched, when no sink had room.
func (st *stream) appendLocked(e *Event, limit int, now time.Time) bool {
	room := false
	for _, w := range st.workers {
		if w.q.n < limit {
			room = true
			break
		}
	}
	if !room {
		return false
	}
	e.ChainID, e.Seq, e.PrevHash = st.chainID, st.seq+1, st.prevHash
	buf := getScratch()
	*buf = e.AppendJSON((*buf)[:0])
	line := make([]byte, len(*buf))
	copy(line, *buf)
	putScratch(buf)
	st.seq++
	st.prevHash = LineHash(line)
	st.emitted++
	t := e.Time.UTC()
	if t.Before(st.lastTime) {
		t = st.lastTime
	}
	st.lastTime = t
	rec := Record{Seq: e.Seq, Time: t, Line: line}
	for _, w := range st.workers {
		if w.q.n < limit {
			w.q.push(queued{rec: rec, enq: now})
			w.kickLocked()
		} else {
			w.lost++
		}
	}
	return true
}

// checkpointLocked adds a signed checkpoint covering everything so far.
// Checkpoints may use the reserve, like admitted events.
func (st *stream) checkpointLocked(now time.Time) {
	cp := Event{
		Time: now.UTC(), Tenant: st.tenant, Action: ActionCheckpoint,
		Region: st.em.region, ConfigHash: st.em.configHash,
		ChainID: st.chainID, Seq: st.seq + 1, PrevHash: st.prevHash,
	}
	buf := getScratch()
	*buf = signCheckpoint(&cp, st.signer, st.kid, *buf)
	putScratch(buf)
	if !st.appendLocked(&cp, st.hardCap, now) {
		return
	}
	st.checkpoints++
	st.sinceCheckpoint = 0
	st.lastCheckpoint = now
}

// tickCheckpoints adds a checkpoint to each signed stream every interval
// if events came since its last one, so a quiet stream is still signed up
// to its last event soon after it. One goroutine serves every stream; it
// wakes every tick (the shortest interval, at most a second).
func (em *Emitter) tickCheckpoints(streams []*stream, tick time.Duration) {
	defer em.tickers.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-em.stop:
			return
		case now := <-t.C:
			for _, st := range streams {
				st.mu.Lock()
				if !st.closed && st.sinceCheckpoint > 0 && now.Sub(st.lastCheckpoint) >= st.interval {
					st.checkpointLocked(now)
				}
				st.mu.Unlock()
			}
		}
	}
}
