package auditlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// queued is one event waiting for one sink.
type queued struct {
	rec Record
	enq time.Time // when it was queued, for the flush interval
}

// ringMin is a ring's first array: small, since most tenants of a large
// node have an event or two queued at a time; a busy one's doubles.
const ringMin = 4

// ring is a FIFO of queued events that reuses its array. It is bounded by
// the caller (the stream pushes only below its caps) and guarded by the
// stream's mutex.
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

// maxDeliverers bounds the goroutines that deliver batches, for all the
// streams and sinks of an Emitter together. They exist only while there is
// something to send: an Emitter with ten thousand quiet tenants runs none.
// Waiting (for a batch to fill, or out a backoff after a failure) holds a
// timer, not a goroutine. A sink call that hangs holds one deliverer for at
// most its timeout, so it takes this many hung sinks at once to delay the
// others' deliveries (their events wait in their queues meanwhile).
const maxDeliverers = 256

// deliverer runs the sink queues that have work, first come first served,
// on at most maxDeliverers goroutines. A queue is in its ready list at most
// once (worker.state), so one sink queue is never served by two goroutines
// at once: its batches go out in order.
type deliverer struct {
	mu      sync.Mutex
	ready   []*worker
	head    int
	running int // goroutines alive
	busy    int // of which serving a queue
}

func (d *deliverer) schedule(w *worker) {
	d.mu.Lock()
	d.ready = append(d.ready, w)
	spawn := d.running < maxDeliverers && d.running-d.busy < len(d.ready)-d.head
	if spawn {
		d.running++
	}
	d.mu.Unlock()
	if spawn {
		go d.loop()
	}
}

func (d *deliverer) loop() {
	d.mu.Lock()
	for d.head < len(d.ready) {
		w := d.ready[d.head]
		d.ready[d.head] = nil
		d.head++
		switch {
		case d.head == len(d.ready):
			d.ready, d.head = d.ready[:0], 0
		case d.head >= 64 && 2*d.head >= len(d.ready):
			// Never empty under a steady load: drop the served half so the
			// list does not grow without end.
			n := copy(d.ready, d.ready[d.head:])
			clear(d.ready[n:])
			d.ready, d.head = d.ready[:n], 0
		}
		d.busy++
		d.mu.Unlock()
		w.step()
		d.mu.Lock()
		d.busy--
	}
	d.running--
	d.mu.Unlock()
}

// A worker's state, guarded by its stream's mutex.
const (
	workerIdle      = iota // nothing to send, or nothing until woken
	workerScheduled        // in the deliverer's ready list, or being served
	workerWaiting          // a timer will schedule it (flush interval or backoff)
	workerDone             // drained or stopped
)

// worker is one sink's queue of one stream, and how it is delivered: in
// order, in batches, by the Emitter's deliverer.
type worker struct {
	st        *stream
	name      string
	sink      BatchSink
	batchSize int
	maxBytes  int
	flush     time.Duration
	timeout   time.Duration
	retryMin  time.Duration
	retryMax  time.Duration

	// Guarded by st.mu.
	q         ring
	draining  bool // Close began: send what is queued without waiting, then stop
	lost      uint64
	state     int
	inBackoff bool        // the timer is a backoff, which new events do not cut short
	timer     *time.Timer // when waiting
	gen       uint64      // tells a timer that fired late from the current one
	stopped   bool        // Close's deadline passed: stop at once

	// Touched only while serving the queue (one goroutine at a time).
	backoff time.Duration
	failing bool

	done chan struct{}

	delivered   atomic.Uint64
	failures    atomic.Uint64
	lastSuccess atomic.Int64
}

// kickLocked tells the worker it has new events or is draining: an idle
// worker is scheduled, one waiting for its batch to fill is sent now if the
// batch is full or the stream is draining. A backoff is waited out.
func (w *worker) kickLocked() {
	switch w.state {
	case workerIdle:
		w.scheduleLocked()
	case workerWaiting:
		if !w.inBackoff && (w.draining || w.q.n >= w.batchSize) && w.timer.Stop() {
			w.scheduleLocked()
		}
	}
}

func (w *worker) scheduleLocked() {
	w.state = workerScheduled
	w.timer = nil
	w.st.em.deliver.schedule(w)
}

// waitLocked schedules the worker again after d.
func (w *worker) waitLocked(d time.Duration, backoff bool) {
	w.state, w.inBackoff = workerWaiting, backoff
	w.gen++
	gen := w.gen
	w.timer = time.AfterFunc(d, func() {
		w.st.mu.Lock()
		if w.state == workerWaiting && w.gen == gen {
			w.scheduleLocked()
		}
		w.st.mu.Unlock()
	})
}

func (w *worker) finishLocked() {
	if w.state == workerDone {
		return
	}
	if w.state == workerWaiting {
		w.timer.Stop()
		w.timer = nil
	}
	w.state = workerDone
	close(w.done)
}

// stopLocked ends the worker at Close's deadline, whatever it was doing: a
// sink call in progress is canceled and its batch stays queued.
func (w *worker) stopLocked() {
	w.stopped = true
	w.st.em.abortCancel()
	if w.state != workerScheduled {
		w.finishLocked()
	}
}

// step serves the queue once: it lets a batch fill for up to the flush
// interval, sends it, and on failure waits a growing, jittered pause before
// the same batch is retried. It ends once draining with an empty queue, or
// when stopped.
func (w *worker) step() {
	st := w.st
	st.mu.Lock()
	if w.stopped || w.q.n == 0 && w.draining {
		w.finishLocked()
		st.mu.Unlock()
		return
	}
	if w.q.n == 0 {
		w.state = workerIdle
		st.mu.Unlock()
		return
	}
	if w.q.n < w.batchSize && !w.draining && w.backoff == 0 && w.flush > 0 {
		if wait := w.flush - time.Since(w.q.at(0).enq); wait > 0 {
			w.waitLocked(wait, false)
			st.mu.Unlock()
			return
		}
	}
	b := w.nextBatchLocked()
	st.mu.Unlock()

	err := w.write(b)
	if err == nil {
		k := len(b.Records)
		w.delivered.Add(uint64(k))
		w.lastSuccess.Store(time.Now().UnixNano())
		if w.failing {
			st.em.log.Info("audit sink recovered", "tenant", st.tenant, "sink", w.name)
			w.failing = false
		}
		w.backoff = 0
		st.mu.Lock()
		w.q.pop(k)
		w.afterLocked()
		st.mu.Unlock()
		return
	}
	w.failures.Add(1)
	if !w.failing {
		// Logged once per outage, not per retry. The error comes from the
		// sink and never carries event content.
		st.em.log.Warn("audit sink delivery failed; retrying", "tenant", st.tenant, "sink", w.name, "err", err)
		w.failing = true
	}
	w.backoff = min(max(2*w.backoff, w.retryMin), w.retryMax)
	pause := w.backoff/2 + rand.N(w.backoff/2+1) // jitter: [backoff/2, backoff]
	st.mu.Lock()
	if w.stopped {
		w.finishLocked()
	} else {
		w.waitLocked(pause, true)
	}
	st.mu.Unlock()
}

// afterLocked decides what follows a delivered batch: the next one (after
// the other queues waiting their turn), the end, or rest.
func (w *worker) afterLocked() {
	switch {
	case w.stopped || w.q.n == 0 && w.draining:
		w.finishLocked()
	case w.q.n == 0:
		w.state = workerIdle
	default:
		w.scheduleLocked()
	}
}

// nextBatchLocked copies the oldest queued events, up to the batch limits,
// into a Batch the sink may read while the stream keeps queueing.
func (w *worker) nextBatchLocked() *Batch {
	st := w.st
	k, size := 0, 0
	for k < w.q.n && k < w.batchSize {
		l := len(w.q.at(k).rec.Line) + 1
		if k > 0 && size+l > w.maxBytes {
			break
		}
		size += l
		k++
	}
	recs := make([]Record, k)
	for i := range k {
		recs[i] = w.q.at(i).rec
	}
	return &Batch{Tenant: st.tenant, ChainID: st.chainID, Records: recs}
}

// write calls the sink with a deadline, turning a panic into an error.
func (w *worker) write(b *Batch) (err error) {
	ctx, cancel := context.WithTimeout(w.st.em.abort, w.timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auditlog: sink %s panicked", w.name)
		}
	}()
	return w.sink.WriteBatch(ctx, b)
}
