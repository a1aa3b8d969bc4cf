package auditlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/internal/clock"
)

// sinkQueue is one sink's queue of one stream, and how it is delivered: in
// order, in batches, retried with backoff, by the Emitter's deliverers
// (delivery.go). It is not a goroutine: a deliverer serves it (serve) when
// it has work, and a timer brings it back after a flush wait or a backoff.
type sinkQueue struct {
	tenant, chainID string // the stream's, for batches and logs
	name            string
	sink            BatchSink
	batchSize       int
	maxBytes        int
	flush           time.Duration
	timeout         time.Duration
	retryMin        time.Duration
	retryMax        time.Duration
	d               *delivery

	mu        sync.Mutex
	q         ring
	draining  bool // Close began: send what is queued without waiting, then stop
	state     queueState
	inBackoff bool        // the timer is a backoff, which new events do not cut short
	timer     clock.Timer // when waiting
	gen       uint64      // tells a timer that fired late from the current one
	stopped   bool        // Close's deadline passed: stop at once

	// Touched only while serving the queue (one goroutine at a time).
	backoff time.Duration
	failing bool

	done chan struct{}

	lost        atomic.Uint64
	delivered   atomic.Uint64
	failures    atomic.Uint64
	lastSuccess atomic.Int64
}

// queueState is where a sink queue is in its delivery, guarded by its mutex.
type queueState uint8

const (
	queueIdle      queueState = iota // nothing to send, or nothing until woken
	queueScheduled                   // in the deliverer's ready list, or being served
	queueWaiting                     // a timer will schedule it (flush interval or backoff)
	queueDone                        // drained or stopped
)

func newSinkQueue(tenant, chainID string, sk SinkOptions, retryMin, retryMax time.Duration, d *delivery) *sinkQueue {
	q := &sinkQueue{
		tenant: tenant, chainID: chainID, name: sk.Name, sink: sk.Sink,
		batchSize: orDefault(sk.BatchSize, DefaultBatchSize), maxBytes: defaultMaxBatchBytes,
		flush: sk.FlushInterval, timeout: orDefault(sk.Timeout, DefaultSinkTimeout),
		retryMin: retryMin, retryMax: retryMax, d: d,
		done: make(chan struct{}),
	}
	if l, ok := sk.Sink.(BatchLimiter); ok {
		if n, b := l.BatchLimits(); n > 0 || b > 0 {
			if n > 0 {
				q.batchSize = min(q.batchSize, n)
			}
			if b > 0 {
				q.maxBytes = b
			}
		}
	}
	return q
}

// len is how many events wait for the sink.
func (q *sinkQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.q.n
}

// offer queues rec, enqueued at now, when the queue holds fewer than limit
// events; otherwise the sink's copy of the trail has a gap there (lost).
func (q *sinkQueue) offer(rec Record, now time.Time, limit int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.q.n >= limit {
		q.lost.Add(1)
		return
	}
	q.q.push(queued{rec: rec, enq: now})
	q.kickLocked()
}

// drain makes the queue send what it holds without waiting, then stop: the
// stream is closed.
func (q *sinkQueue) drain() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.draining = true
	q.kickLocked()
}

// stop ends the queue at Close's deadline, whatever it was doing: a sink
// call in progress was aborted (delivery.abort) and its batch stays
// queued.
func (q *sinkQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	if q.state != queueScheduled {
		q.finishLocked()
	}
}

func (q *sinkQueue) stats() SinkStats {
	ss := SinkStats{Name: q.name, Queued: q.len(), Delivered: q.delivered.Load(), Lost: q.lost.Load(), Failures: q.failures.Load()}
	if ns := q.lastSuccess.Load(); ns != 0 {
		ss.LastSuccess = time.Unix(0, ns)
	}
	return ss
}

// kickLocked tells the queue it has new events or is draining: an idle
// queue is scheduled, one waiting for its batch to fill is sent now if the
// batch is full or the stream is draining. A backoff is waited out.
func (q *sinkQueue) kickLocked() {
	switch q.state {
	case queueIdle:
		q.scheduleLocked()
	case queueWaiting:
		if !q.inBackoff && (q.draining || q.q.n >= q.batchSize) && q.timer.Stop() {
			q.scheduleLocked()
		}
	}
}

func (q *sinkQueue) scheduleLocked() {
	q.state = queueScheduled
	q.timer = nil
	q.d.schedule(q)
}

// waitLocked schedules the queue again after d.
func (q *sinkQueue) waitLocked(d time.Duration, backoff bool) {
	q.state, q.inBackoff = queueWaiting, backoff
	q.gen++
	gen := q.gen
	q.timer = q.d.clk.AfterFunc(d, func() {
		q.mu.Lock()
		if q.state == queueWaiting && q.gen == gen {
			q.scheduleLocked()
		}
		q.mu.Unlock()
	})
}

func (q *sinkQueue) finishLocked() {
	if q.state == queueDone {
		return
	}
	if q.state == queueWaiting {
		q.timer.Stop()
		q.timer = nil
	}
	q.state = queueDone
	close(q.done)
}

// serve serves the queue once: it lets a batch fill for up to the flush
// interval, sends it, and on failure waits a growing, jittered pause before
// the same batch is retried. It ends once draining with an empty queue, or
// when stopped.
func (q *sinkQueue) serve() {
	q.mu.Lock()
	if q.stopped || q.q.n == 0 && q.draining {
		q.finishLocked()
		q.mu.Unlock()
		return
	}
	if q.q.n == 0 {
		q.state = queueIdle
		q.mu.Unlock()
		return
	}
	if q.q.n < q.batchSize && !q.draining && q.backoff == 0 && q.flush > 0 {
		if wait := q.flush - q.d.clk.Now().Sub(q.q.at(0).enq); wait > 0 {
			q.waitLocked(wait, false)
			q.mu.Unlock()
			return
		}
	}
	b := q.nextBatchLocked()
	q.mu.Unlock()

	err := q.write(b)
	if err == nil {
		k := len(b.Records)
		q.delivered.Add(uint64(k))
		q.lastSuccess.Store(q.d.clk.Now().UnixNano())
		if q.failing {
			q.d.log.Info("audit sink recovered", "tenant", q.tenant, "sink", q.name)
			q.failing = false
		}
		q.backoff = 0
		q.mu.Lock()
		q.q.pop(k)
		q.afterLocked()
		q.mu.Unlock()
		return
	}
	q.failures.Add(1)
	if !q.failing {
		// Logged once per outage, not per retry. The error comes from the
		// sink and never carries event content.
		q.d.log.Warn("audit sink delivery failed; retrying", "tenant", q.tenant, "sink", q.name, "err", err)
		q.failing = true
	}
	q.backoff = min(max(2*q.backoff, q.retryMin), q.retryMax)
	pause := q.backoff/2 + rand.N(q.backoff/2+1) // jitter: [backoff/2, backoff]
	q.mu.Lock()
	if q.stopped {
		q.finishLocked()
	} else {
		q.waitLocked(pause, true)
	}
	q.mu.Unlock()
}

// afterLocked decides what follows a delivered batch: the next one (after
// the other queues waiting their turn), the end, or rest.
func (q *sinkQueue) afterLocked() {
	switch {
	case q.stopped || q.q.n == 0 && q.draining:
		q.finishLocked()
	case q.q.n == 0:
		q.state = queueIdle
	default:
		q.scheduleLocked()
	}
}

// nextBatchLocked copies the oldest queued events, up to the batch limits,
// into a Batch the sink may read while the stream keeps queueing.
func (q *sinkQueue) nextBatchLocked() *Batch {
	k, size := 0, 0
	for k < q.q.n && k < q.batchSize {
		l := len(q.q.at(k).rec.Line) + 1
		if k > 0 && size+l > q.maxBytes {
			break
		}
		size += l
		k++
	}
	recs := make([]Record, k)
	for i := range k {
		recs[i] = q.q.at(i).rec
	}
	return &Batch{Tenant: q.tenant, ChainID: q.chainID, Records: recs}
}

// write calls the sink with a deadline, turning a panic into an error.
func (q *sinkQueue) write(b *Batch) (err error) {
	ctx, cancel := context.WithTimeout(q.d.ctx, q.timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auditlog: sink %s panicked", q.name)
		}
	}()
	return q.sink.WriteBatch(ctx, b)
}

// queued is one event waiting for one sink.
type queued struct {
	rec Record
	enq time.Time // when it was queued, for the flush interval
}

// ringMin is a ring's first array: small, since most tenants of a large
// node have an event or two queued at a time; a busy one's doubles.
const ringMin = 4

// ring is a FIFO of queued events that reuses its array. It is bounded by
// the caller (the stream offers only below its caps) and guarded by its
// sink queue's mutex.
type ring struct {
	buf     []queued
	head, n int
}

func (r *ring) push(x queued) {
	if r.n == len(r.buf) {
		nb := make([]queued, max(ringMin, 2*len(r.buf)))
		for i := range r.n {
			nb[i] = *r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = x
	r.n++
}

func (r *ring) at(i int) *queued { return &r.buf[(r.head+i)%len(r.buf)] }

// pop drops the k oldest entries, clearing them so their lines can be
// collected.
func (r *ring) pop(k int) {
	for i := range k {
		*r.at(i) = queued{}
	}
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
}
