package auditlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// queued is one event waiting for one sink.
type queued struct {
	rec Record
	enq time.Time // when it was queued, for the flush interval
}

// ring is a FIFO of queued events that reuses its array. It is bounded by
// the caller (the stream pushes only below its caps) and guarded by the
// stream's mutex.
type ring struct {
	buf     []queued
	head, n int
}

func (r *ring) push(x queued) {
	if r.n == len(r.buf) {
		nb := make([]queued, max(16, 2*len(r.buf)))
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

// worker delivers one stream's events to one sink, in order, in batches.
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
	q        ring
	draining bool // Close began: send what is queued without waiting, then stop
	lost     uint64

	wake   chan struct{}
	ctx    context.Context // canceled to stop at once (Close's deadline passed)
	cancel context.CancelFunc
	done   chan struct{}

	delivered   atomic.Uint64
	failures    atomic.Uint64
	lastSuccess atomic.Int64
}

// signal wakes the worker without blocking; one pending wake is enough.
func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run is the worker's loop: wait for events, let a batch fill for up to
// the flush interval, send it, and on failure retry the same batch after a
// growing, jittered pause. It returns once draining with an empty queue, or
// when its context is canceled.
func (w *worker) run() {
	defer close(w.done)
	st := w.st
	backoff := time.Duration(0)
	failing := false
	for {
		st.mu.Lock()
		n, draining := w.q.n, w.draining
		var oldest time.Time
		if n > 0 {
			oldest = w.q.at(0).enq
		}
		st.mu.Unlock()

		if n == 0 {
			if draining {
				return
			}
			select {
			case <-w.wake:
			case <-w.ctx.Done():
				return
			}
			continue
		}
		if n < w.batchSize && !draining && backoff == 0 && w.flush > 0 {
			if wait := w.flush - time.Since(oldest); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-w.wake:
				case <-t.C:
				case <-w.ctx.Done():
					t.Stop()
					return
				}
				t.Stop()
				continue
			}
		}

		b := w.nextBatch()
		err := w.write(b)
		if err == nil {
			k := len(b.Records)
			st.mu.Lock()
			w.q.pop(k)
			st.mu.Unlock()
			w.delivered.Add(uint64(k))
			w.lastSuccess.Store(time.Now().UnixNano())
			if failing {
				st.em.log.Info("audit sink recovered", "tenant", st.tenant, "sink", w.name)
				failing = false
			}
			backoff = 0
			continue
		}
		w.failures.Add(1)
		if !failing {
			// Logged once per outage, not per retry. The error comes from
			// the sink and never carries event content.
			st.em.log.Warn("audit sink delivery failed; retrying", "tenant", st.tenant, "sink", w.name, "err", err)
			failing = true
		}
		backoff = min(max(2*backoff, w.retryMin), w.retryMax)
		pause := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return
		}
	}
}

// nextBatch copies the oldest queued events, up to the batch limits, into
// a Batch the sink may read while the stream keeps queueing.
func (w *worker) nextBatch() *Batch {
	st := w.st
	st.mu.Lock()
	defer st.mu.Unlock()
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
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("auditlog: sink %s panicked", w.name)
		}
	}()
	return w.sink.WriteBatch(ctx, b)
}
