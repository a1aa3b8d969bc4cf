package auditlog

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestNoGoroutinePerTenant: many quiet tenants cost no goroutine, and a
// burst to all of them is delivered, each tenant's chain in order, by a
// bounded set that goes away once the queues are empty.
func TestNoGoroutinePerTenant(t *testing.T) {
	const tenants = 2000
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	sinks := make([]*memBatchSink, tenants)
	opts := Options{Tenants: map[string]StreamOptions{}}
	for i := range tenants {
		sinks[i] = &memBatchSink{}
		opts.Tenants[fmt.Sprintf("t%d", i)] = StreamOptions{
			Sinks:      []SinkOptions{{Name: "a", Sink: sinks[i], BatchSize: 3}, {Name: "b", Sink: &memBatchSink{}, FlushInterval: time.Millisecond}},
			SigningKey: key, CheckpointEvery: 4,
		}
	}
	em, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine() - before; n > 2 {
		t.Fatalf("%d goroutines for %d idle tenants", n, tenants)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < tenants; i += 8 {
				for j := range 10 {
					em.Emit(t.Context(), admitted(fmt.Sprintf("t%d", i), j))
				}
			}
		})
	}
	wg.Wait()
	waitUntil(t, "delivery to every tenant", 20*time.Second, func() bool {
		for _, s := range sinks {
			if s.count() < 12 { // 10 events, 2 checkpoints
				return false
			}
		}
		return true
	})
	if n := runtime.NumGoroutine() - before; n > maxDeliverers+2 {
		t.Errorf("%d goroutines while delivering", n)
	}
	waitUntil(t, "the deliverers to go", 5*time.Second, func() bool { return runtime.NumGoroutine()-before <= 2 })
	closeEmitter(t, em)
	for i, s := range sinks {
		mustVerify(t, s.stream(), pubKeys(fmt.Sprintf("t%d", i), key))
	}
}

// hangingSink blocks every call until its context ends.
type hangingSink struct{ calls chan struct{} }

func (h *hangingSink) WriteBatch(ctx context.Context, _ *Batch) error {
	select {
	case h.calls <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingSink) Close() error { return nil }

// TestHungSinkIsolated: a tenant whose sink hangs does not hold back
// another tenant's deliveries, and Close's deadline ends the hung call.
func TestHungSinkIsolated(t *testing.T) {
	hung := &hangingSink{calls: make(chan struct{}, 1)}
	ok := &memBatchSink{}
	em, err := New(Options{Tenants: map[string]StreamOptions{
		"stuck": {Sinks: []SinkOptions{{Sink: hung, Timeout: time.Hour}}},
		"fine":  {Sinks: []SinkOptions{{Sink: ok}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	em.Emit(t.Context(), admitted("stuck", 0))
	<-hung.calls
	for i := range 50 {
		em.Emit(t.Context(), admitted("fine", i))
	}
	waitUntil(t, "the other tenant's delivery", 5*time.Second, func() bool { return ok.count() == 50 })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := em.Close(ctx); err == nil {
		t.Error("Close reported nothing undelivered")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
}
