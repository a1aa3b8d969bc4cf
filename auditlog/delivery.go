package auditlog

import (
	"context"
	"log/slog"
	"sync"

	"github.com/ferryhealth/ferry/internal/clock"
)

// delivery is what every sink queue of an Emitter shares: the goroutines
// that serve them, the context their sink calls run under, the logger and
// the clock. Each queue is given it when it is built.
type delivery struct {
	// ctx is canceled at Close's deadline (abort): it aborts the sink
	// calls in progress, with one context for every queue rather than one
	// each, which would keep a map of children and a channel per sink of
	// every tenant.
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	clk    clock.Clock

	mu      sync.Mutex
	ready   []*sinkQueue
	head    int
	running int // goroutines alive
	busy    int // of which serving a queue
}

func newDelivery(log *slog.Logger, clk clock.Clock) *delivery {
	d := &delivery{log: log, clk: clk}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// abort cancels the sink calls in progress, and those to come.
func (d *delivery) abort() { d.cancel() }

// maxDeliverers bounds the goroutines that deliver batches, for all the
// streams and sinks of an Emitter together. They exist only while there is
// something to send: an Emitter with ten thousand quiet tenants runs none.
// Waiting (for a batch to fill, or out a backoff after a failure) holds a
// timer, not a goroutine. A sink call that hangs holds one deliverer for at
// most its timeout, so it takes this many hung sinks at once to delay the
// others' deliveries (their events wait in their queues meanwhile).
const maxDeliverers = 256

// schedule puts q in the ready list, served first come first served on at
// most maxDeliverers goroutines. A queue is in the list at most once (its
// state says so), so one sink queue is never served by two goroutines at
// once: its batches go out in order.
func (d *delivery) schedule(q *sinkQueue) {
	d.mu.Lock()
	d.ready = append(d.ready, q)
	spawn := d.running < maxDeliverers && d.running-d.busy < len(d.ready)-d.head
	if spawn {
		d.running++
	}
	d.mu.Unlock()
	if spawn {
		go d.loop()
	}
}

func (d *delivery) loop() {
	d.mu.Lock()
	for d.head < len(d.ready) {
		q := d.ready[d.head]
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
		q.serve()
		d.mu.Lock()
		d.busy--
	}
	d.running--
	d.mu.Unlock()
}
