package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memBatchSink keeps every line it accepts; down makes it fail.
type memBatchSink struct {
	mu      sync.Mutex
	lines   [][]byte
	batches int
	down    atomic.Bool
	panics  atomic.Bool
	calls   atomic.Int64
	closed  atomic.Int64
}

func (m *memBatchSink) WriteBatch(ctx context.Context, b *Batch) error {
	m.calls.Add(1)
	if m.panics.Load() {
		panic("broken sink")
	}
	if m.down.Load() {
		return errors.New("sink down")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	for _, r := range b.Records {
		m.lines = append(m.lines, bytes.Clone(r.Line))
	}
	return nil
}

func (m *memBatchSink) Close() error { m.closed.Add(1); return nil }

func (m *memBatchSink) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lines)
}

// stream returns what the sink received as JSON lines.
func (m *memBatchSink) stream() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b []byte
	for _, l := range m.lines {
		b = append(append(b, l...), '\n')
	}
	return b
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustVerify(t *testing.T, stream []byte, keys map[string][]ed25519.PublicKey) *Report {
	t.Helper()
	rep, err := Verify(bytes.NewReader(stream), VerifyOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("stream does not verify: %v", rep.Findings)
	}
	return rep
}

func pubKeys(tenant string, k ed25519.PrivateKey) map[string][]ed25519.PublicKey {
	return map[string][]ed25519.PublicKey{tenant: {k.Public().(ed25519.PublicKey)}}
}

// fastRetry keeps the tests' outages short.
func fastRetry(so StreamOptions) StreamOptions {
	so.RetryMin, so.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	return so
}

func closeEmitter(t *testing.T, em *Emitter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func admitted(tenant string, i int) *Event {
	return &Event{
		RequestID: fmt.Sprintf("req-%d", i), Tenant: tenant, Actor: "app", SourceIP: "127.0.0.1",
		Action: ActionRead, ResourceType: "patients", Route: "/v1/{connection_id}/patients/{id}",
		Connection: "epic", Connector: "fhir", Region: "us", Status: 200, RecordCount: 1, LatencyProxyMicros: 10,
	}
}

// TestQueuedChainVerifies emits from many goroutines into two streams and
// checks that what each sink received is one intact, fully signed chain.
func TestQueuedChainVerifies(t *testing.T) {
	key := testSigner(t)
	acme, def := &memBatchSink{}, &memBatchSink{}
	em, err := New(Options{
		Region: "us", ConfigHash: "sha256:cfg",
		Default: &StreamOptions{Sinks: []SinkOptions{{Name: "mem", Sink: def}}},
		Tenants: map[string]StreamOptions{"acme": {
			Sinks:      []SinkOptions{{Name: "mem", Sink: acme, BatchSize: 7, FlushInterval: time.Millisecond}},
			SigningKey: key, CheckpointEvery: 10,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 19 {
		wg.Go(func() {
			for i := range 5 {
				if err := em.Admit("acme"); err != nil {
					t.Error(err)
				}
				em.Emit(t.Context(), admitted("acme", g*5+i))
			}
		})
	}
	for i := range 5 {
		em.Emit(t.Context(), &Event{RequestID: fmt.Sprint(i), Action: ActionRefused, Status: 401})
	}
	wg.Wait()
	closeEmitter(t, em)

	rep := mustVerify(t, acme.stream(), pubKeys("acme", key))
	if len(rep.Chains) != 1 {
		t.Fatalf("%d chains", len(rep.Chains))
	}
	c := rep.Chains[0]
	// 95 events, a checkpoint after every 10, and a final one at Close.
	if c.Events != 95+9+1 || c.Checkpoints != 10 || c.Verified != 10 || c.SignedThrough != c.LastSeq {
		t.Errorf("chain summary %+v", c)
	}
	if !bytes.Contains(acme.stream(), []byte(`"action":"checkpoint","route":"","region":"us"`)) {
		t.Error("checkpoints do not carry the region")
	}
	rep = mustVerify(t, def.stream(), nil)
	if rep.Events != 5 || rep.Chains[0].Tenant != "" || rep.Chains[0].Checkpoints != 0 {
		t.Errorf("default stream: %+v", rep.Chains)
	}
	for _, s := range em.Stats() {
		if s.Dropped != 0 || s.Sinks[0].Queued != 0 || s.Sinks[0].Delivered != s.Emitted {
			t.Errorf("stats %+v", s)
		}
	}
	if acme.closed.Load() != 1 {
		t.Error("Close did not close the sink")
	}
}

func TestQueuedCheckpointInterval(t *testing.T) {
	key := testSigner(t)
	s := &memBatchSink{}
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme": {
		Sinks: []SinkOptions{{Sink: s}}, SigningKey: key, CheckpointInterval: 30 * time.Millisecond,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeEmitter(t, em)
	for i := range 3 {
		em.Emit(t.Context(), admitted("acme", i))
	}
	waitUntil(t, "a timed checkpoint", 5*time.Second, func() bool { return s.count() == 4 })
	rep := mustVerify(t, s.stream(), pubKeys("acme", key))
	if rep.Chains[0].SignedThrough != 4 {
		t.Errorf("signed through %d, want 4", rep.Chains[0].SignedThrough)
	}
	// A quiet stream gets no more checkpoints.
	time.Sleep(100 * time.Millisecond)
	if n := s.count(); n != 4 {
		t.Errorf("%d lines after a quiet period, want 4", n)
	}
}

// TestBlockPolicy: with its only sink down, a tenant's queue fills, Admit
// then refuses, and nothing admitted is lost; once the sink is back, the
// backlog arrives and verifies.
func TestBlockPolicy(t *testing.T) {
	key := testSigner(t)
	s := &memBatchSink{}
	s.down.Store(true)
	const queue = 20
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{
		Sinks: []SinkOptions{{Sink: s, BatchSize: 8}}, QueueSize: queue, SigningKey: key, CheckpointEvery: 1000,
	})}})
	if err != nil {
		t.Fatal(err)
	}
	served := 0
	for i := range 100 {
		if err := em.Admit("acme"); err != nil {
			if !errors.Is(err, ErrAuditUnavailable) {
				t.Fatalf("Admit: %v", err)
			}
			// The proxy answers 503 and audits that as a refusal.
			em.Emit(t.Context(), &Event{RequestID: fmt.Sprint(i), Tenant: "acme", Action: ActionRead, Status: 503, ErrorCode: ErrorCodeAuditUnavailable})
			continue
		}
		served++
		em.Emit(t.Context(), admitted("acme", i))
	}
	if served != queue {
		t.Fatalf("served %d requests with the sink down, want %d (the queue size)", served, queue)
	}
	// Requests admitted just before the queue filled finish now: their
	// events go to the reserve, not to waste.
	for i := range 5 {
		em.Emit(t.Context(), admitted("acme", 1000+i))
	}
	waitUntil(t, "failed deliveries", 5*time.Second, func() bool { return em.Stats()[0].Sinks[0].Failures >= 1 })
	st := em.Stats()[0]
	if st.Dropped != 80 || st.Refused != 80 || st.Emitted != queue+5 || st.Sinks[0].Queued != queue+5 {
		t.Fatalf("while down: %+v", st)
	}

	s.down.Store(false)
	waitUntil(t, "the backlog", 10*time.Second, func() bool { return s.count() == queue+5 })
	if err := em.Admit("acme"); err != nil {
		t.Fatalf("Admit after recovery: %v", err)
	}
	closeEmitter(t, em)
	rep := mustVerify(t, s.stream(), pubKeys("acme", key))
	if rep.Events != queue+5+1 || rep.Chains[0].SignedThrough != queue+5+1 {
		t.Errorf("delivered %d events, signed through %d", rep.Events, rep.Chains[0].SignedThrough)
	}
	if strings.Contains(string(s.stream()), ErrorCodeAuditUnavailable) {
		t.Error("refusals that found the queue full were delivered; they should have been dropped")
	}
}

func TestDropPolicy(t *testing.T) {
	s := &memBatchSink{}
	s.down.Store(true)
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{
		Sinks: []SinkOptions{{Sink: s}}, QueueSize: 5, OnSinkFailure: PolicyDrop,
	})}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := em.Admit("acme"); err != nil {
			t.Fatalf("drop policy refused a request: %v", err)
		}
		em.Emit(t.Context(), admitted("acme", i))
	}
	if st := em.Stats()[0]; st.Dropped != 15 || st.Emitted != 5 {
		t.Fatalf("stats %+v", st)
	}
	s.down.Store(false)
	closeEmitter(t, em)
	mustVerify(t, s.stream(), nil)
	if s.count() != 5 {
		t.Errorf("delivered %d, want 5", s.count())
	}
}

// TestOneSinkDown: a stream stays available while any sink takes events;
// the sink that was down has a gap, which verify reports as a deletion.
func TestOneSinkDown(t *testing.T) {
	up, down := &memBatchSink{}, &memBatchSink{}
	down.down.Store(true)
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{
		Sinks: []SinkOptions{{Name: "up", Sink: up}, {Name: "down", Sink: down}}, QueueSize: 5,
	})}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := em.Admit("acme"); err != nil {
			t.Fatalf("Admit with one sink up: %v", err)
		}
		em.Emit(t.Context(), admitted("acme", i))
		waitUntil(t, "delivery to the sink that is up", 5*time.Second, func() bool { return up.count() == i+1 })
	}
	st := em.Stats()[0]
	if st.Sinks[1].Lost != 20 || st.Sinks[1].Queued != 10 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	down.down.Store(false)
	waitUntil(t, "the lagging sink to catch up", 5*time.Second, func() bool { return down.count() == 10 })
	// A lost tail cannot be told from a trail that ends there; the next
	// event shows the gap.
	em.Emit(t.Context(), admitted("acme", 31))
	closeEmitter(t, em)
	mustVerify(t, up.stream(), nil)
	rep, _ := Verify(bytes.NewReader(down.stream()), VerifyOptions{})
	if rep.OK() || len(rep.Findings) != 1 || rep.Findings[0].Kind != FindingDeleted || rep.Findings[0].Seq != 11 || rep.Findings[0].LastSeq != 30 {
		t.Errorf("the lagging sink's copy: %v", rep.Findings)
	}
}

func TestCloseDeadline(t *testing.T) {
	s := &memBatchSink{}
	s.down.Store(true)
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{Sinks: []SinkOptions{{Sink: s}}})}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		em.Emit(t.Context(), admitted("acme", i))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = em.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 queued events undelivered") {
		t.Errorf("Close = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
	// After Close: refused and counted, and Close is idempotent.
	if err := em.Admit("acme"); !errors.Is(err, ErrAuditUnavailable) {
		t.Errorf("Admit after Close: %v", err)
	}
	em.Emit(t.Context(), admitted("acme", 9))
	if em.Failures() != 1 {
		t.Errorf("Failures = %d", em.Failures())
	}
	if err2 := em.Close(t.Context()); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Close = %v", err2)
	}
}

func TestPanickingBatchSink(t *testing.T) {
	s := &memBatchSink{}
	s.panics.Store(true)
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme": fastRetry(StreamOptions{Sinks: []SinkOptions{{Sink: s}}})}})
	if err != nil {
		t.Fatal(err)
	}
	em.Emit(t.Context(), admitted("acme", 1))
	waitUntil(t, "retries", 5*time.Second, func() bool { return s.calls.Load() >= 3 })
	s.panics.Store(false)
	waitUntil(t, "delivery after the panics", 5*time.Second, func() bool { return s.count() == 1 })
	if f := em.Stats()[0].Sinks[0].Failures; f < 2 {
		t.Errorf("failures %d", f)
	}
	closeEmitter(t, em)
}

func TestNewRejectsBadOptions(t *testing.T) {
	s := &memBatchSink{}
	for name, o := range map[string]Options{
		"no sinks":     {Tenants: map[string]StreamOptions{"a": {}}},
		"nil sink":     {Tenants: map[string]StreamOptions{"a": {Sinks: []SinkOptions{{}}}}},
		"dup name":     {Tenants: map[string]StreamOptions{"a": {Sinks: []SinkOptions{{Name: "x", Sink: s}, {Name: "x", Sink: s}}}}},
		"policy":       {Tenants: map[string]StreamOptions{"a": {Sinks: []SinkOptions{{Sink: s}}, OnSinkFailure: "maybe"}}},
		"empty tenant": {Tenants: map[string]StreamOptions{"": {Sinks: []SinkOptions{{Sink: s}}}}},
		"short key":    {Tenants: map[string]StreamOptions{"a": {Sinks: []SinkOptions{{Sink: s}}, SigningKey: make([]byte, 10)}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestQueuedRouting: tenantless events go to the default stream; events of
// a tenant the Emitter was not built with fail (they must not mix into
// another trail) and Admit refuses them.
func TestQueuedRouting(t *testing.T) {
	def, acme := &memBatchSink{}, &memBatchSink{}
	em, err := New(Options{
		Default: &StreamOptions{Sinks: []SinkOptions{{Sink: def}}},
		Tenants: map[string]StreamOptions{"acme": {Sinks: []SinkOptions{{Sink: acme}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	em.Emit(t.Context(), admitted("acme", 1))
	em.Emit(t.Context(), admitted("", 2))
	em.Emit(t.Context(), admitted("initech", 3))
	if err := em.Admit("initech"); !errors.Is(err, ErrAuditUnavailable) {
		t.Errorf("Admit of an unknown tenant: %v", err)
	}
	em.Emit(t.Context(), nil)
	closeEmitter(t, em)
	if acme.count() != 1 || def.count() != 1 || em.Failures() != 2 {
		t.Errorf("acme %d, default %d, failures %d", acme.count(), def.count(), em.Failures())
	}

	noDef, err := New(Options{Tenants: map[string]StreamOptions{"acme": {Sinks: []SinkOptions{{Sink: &memBatchSink{}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeEmitter(t, noDef)
	if err := noDef.Admit("initech"); !errors.Is(err, ErrAuditUnavailable) {
		t.Errorf("Admit without a stream: %v", err)
	}
	noDef.Emit(t.Context(), admitted("initech", 1))
	if noDef.Failures() != 1 {
		t.Errorf("Failures = %d", noDef.Failures())
	}
}

func BenchmarkQueuedEmit(b *testing.B) {
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme-health": {
		Sinks: []SinkOptions{{Sink: NewJSONLines(discardCounter{})}}, SigningKey: testSigner(b), QueueSize: 1 << 20,
	}}})
	if err != nil {
		b.Fatal(err)
	}
	defer em.Close(context.Background())
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		e := *fullEvent()
		em.Emit(ctx, &e)
	}
}

// TestCloseWhileEmitting: events racing with Close are either in the trail
// before the final checkpoint or counted as failures; the trail ends
// signed.
func TestCloseWhileEmitting(t *testing.T) {
	key := testSigner(t)
	s := &memBatchSink{}
	em, err := New(Options{Tenants: map[string]StreamOptions{"acme": {Sinks: []SinkOptions{{Sink: s}}, SigningKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var sent atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				em.Emit(t.Context(), admitted("acme", g*1000+i))
				sent.Add(1)
			}
		})
	}
	time.Sleep(time.Millisecond)
	closeEmitter(t, em)
	wg.Wait()
	rep := mustVerify(t, s.stream(), pubKeys("acme", key))
	c := rep.Chains[0]
	if c.SignedThrough != c.LastSeq {
		t.Errorf("trail not signed to its end: %+v", c)
	}
	if got := int64(rep.Events-c.Checkpoints) + int64(em.Failures()); got != sent.Load() {
		t.Errorf("%d events in the trail + %d failures, want %d", rep.Events-c.Checkpoints, em.Failures(), sent.Load())
	}
}
