package auditlog

import (
	"crypto/ed25519"
	"sync"
	"sync/atomic"
	"time"
)

// stream is one tenant's chain: it gives each event the next seq and the
// hash of the line before it, adds signed checkpoints, and hands each line
// to the queue of every sink of the tenant (sinkQueue). Its lock is held
// from the seq an event gets to the queues it joins, so every sink sees the
// stream in seq order.
type stream struct {
	tenant  string
	chainID string
	policy  Policy
	// softCap is the queue length at which Admit refuses (under
	// PolicyBlock) and refusals are dropped; hardCap adds the reserve kept
	// for admitted requests' events and checkpoints.
	softCap, hardCap int
	signer           chainSigner
	queues           []*sinkQueue

	mu              sync.Mutex
	seq             uint64
	prevHash        string
	lastTime        time.Time // records' times never go backwards
	sinceCheckpoint int
	lastCheckpoint  time.Time
	closed          bool // Close began
	emitted         uint64
	checkpoints     uint64

	dropped, refused atomic.Uint64
}

// chainSigner signs a stream's checkpoints: with key (nil: the stream has
// none), every so many events or so long, and stamps them with the node's
// region and config hash as the proxy stamps request events.
type chainSigner struct {
	key                ed25519.PrivateKey
	kid                string
	every              int
	interval           time.Duration
	region, configHash string
}

// newStream builds the stream of tenant (the default stream for ""), its
// sink queues served by d.
func newStream(tenant string, so StreamOptions, signer chainSigner, d *delivery) (*stream, error) {
	if err := checkStreamOptions(tenant, &so); err != nil {
		return nil, err
	}
	st := &stream{
		tenant: tenant, chainID: newChainID(), policy: so.OnSinkFailure,
		softCap: so.QueueSize, hardCap: 2 * so.QueueSize, lastCheckpoint: d.clk.Now(),
	}
	if so.SigningKey != nil {
		signer.key, signer.kid = so.SigningKey, KeyID(so.SigningKey.Public().(ed25519.PublicKey))
		signer.every, signer.interval = so.CheckpointEvery, so.CheckpointInterval
	}
	st.signer = signer
	for _, sk := range so.Sinks {
		st.queues = append(st.queues, newSinkQueue(st.tenant, st.chainID, sk, so.RetryMin, so.RetryMax, d))
	}
	return st, nil
}

// admit reports whether the stream can take the event of one more admitted
// request: always under PolicyDrop, while some sink's queue is below its
// soft cap under PolicyBlock.
func (st *stream) admit() bool {
	if st.policy == PolicyDrop {
		return true
	}
	for _, q := range st.queues {
		if q.len() < st.softCap {
			return true
		}
	}
	st.refused.Add(1)
	return false
}

// emit places e in the chain and in the queue of every sink with room. It
// reports false when the stream is closed: Close has added the final
// checkpoint, and nothing may follow it. An event no queue has room for is
// dropped and counted.
func (st *stream) emit(e *Event, now time.Time) bool {
	// Refusals, including the 503s Admit caused, never reach the reserve:
	// it exists for requests that were admitted and already served.
	limit := st.softCap
	if st.policy == PolicyBlock && e.Action != ActionRefused && e.ErrorCode != ErrorCodeAuditUnavailable {
		limit = st.hardCap
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return false
	}
	if !st.appendLocked(e, limit, now) {
		st.dropped.Add(1)
		return true
	}
	st.sinceCheckpoint++
	if st.signer.key != nil && st.sinceCheckpoint >= st.signer.every {
		st.checkpointLocked(now)
	}
	return true
}

// appendLocked gives e the next place in the chain and queues it for every
// sink whose queue holds fewer than limit events. It reports false, and
// leaves the chain untouched, when no sink had room. Only the stream adds
// to its queues, under its lock, so a queue with room now still has it
// below.
func (st *stream) appendLocked(e *Event, limit int, now time.Time) bool {
	room := false
	for _, q := range st.queues {
		if q.len() < limit {
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
	for _, q := range st.queues {
		q.offer(rec, now, limit)
	}
	return true
}

// checkpointLocked adds a signed checkpoint covering everything so far.
// Checkpoints may use the reserve, like admitted events.
func (st *stream) checkpointLocked(now time.Time) {
	cp := Event{
		Time: now.UTC(), Tenant: st.tenant, Action: ActionCheckpoint,
		Region: st.signer.region, ConfigHash: st.signer.configHash,
		ChainID: st.chainID, Seq: st.seq + 1, PrevHash: st.prevHash,
	}
	buf := getScratch()
	*buf = signCheckpoint(&cp, st.signer.key, st.signer.kid, *buf)
	putScratch(buf)
	if !st.appendLocked(&cp, st.hardCap, now) {
		return
	}
	st.checkpoints++
	st.sinceCheckpoint = 0
	st.lastCheckpoint = now
}

// checkpointIfDue adds a checkpoint when events came since the last one
// and the interval has passed (tickCheckpoints).
func (st *stream) checkpointIfDue(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.closed && st.sinceCheckpoint > 0 && now.Sub(st.lastCheckpoint) >= st.signer.interval {
		st.checkpointLocked(now)
	}
}

// close ends the stream, at Close: a final checkpoint when events came
// since the last one, then nothing more is accepted, and every sink queue
// sends what it holds without waiting.
func (st *stream) close(now time.Time) {
	st.mu.Lock()
	if st.signer.key != nil && st.sinceCheckpoint > 0 {
		st.checkpointLocked(now)
	}
	st.closed = true
	st.mu.Unlock()
	for _, q := range st.queues {
		q.drain()
	}
}

// stats is the stream's part of its StreamStats (the sinks' are theirs).
func (st *stream) stats() StreamStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	return StreamStats{
		Tenant: st.tenant, ChainID: st.chainID, Seq: st.seq,
		Emitted: st.emitted, Dropped: st.dropped.Load(), Refused: st.refused.Load(), Checkpoints: st.checkpoints,
	}
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

// setConfigHash stamps the stream's next checkpoints with h.
func (st *stream) setConfigHash(h string) {
	st.mu.Lock()
	st.signer.configHash = h
	st.mu.Unlock()
}
