package auditlog

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// memSink records the events written to it, one per call: a sink of the
// per-event kind, delivered through AdaptSink.
type memSink struct {
	mu     sync.Mutex
	events []Event
	// ctxErrs are the context errors each Write saw when it was called.
	ctxErrs []error
}

func (s *memSink) Write(ctx context.Context, e *Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, *e)
	s.ctxErrs = append(s.ctxErrs, ctx.Err())
	return nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) snapshot() ([]Event, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...), append([]error(nil), s.ctxErrs...)
}

// oneStream is an Emitter whose tenantless events go to sink alone.
func oneStream(t *testing.T, sink BatchSink) *Emitter {
	t.Helper()
	em, err := New(Options{Default: &StreamOptions{Sinks: []SinkOptions{{Sink: sink}}}})
	if err != nil {
		t.Fatal(err)
	}
	return em
}

func TestEmitterTime(t *testing.T) {
	s := &memSink{}
	em := oneStream(t, AdaptSink(s))

	before := time.Now()
	e := &Event{}
	em.Emit(t.Context(), e)
	if e.Time.Before(before) || e.Time.After(time.Now()) || e.Time.Location() != time.UTC {
		t.Errorf("zero Time set to %v, want now in UTC", e.Time)
	}

	fixed := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	em.Emit(t.Context(), &Event{Time: fixed})
	closeEmitter(t, em)
	evs, _ := s.snapshot()
	if got := evs[1].Time; !got.Equal(fixed) {
		t.Errorf("set Time overwritten: got %v, want %v", got, fixed)
	}
}

type ctxKey struct{}

// TestEmitterIgnoresCancellation checks that a request whose client went
// away (its context canceled) is still audited: the sink gets the event,
// with a live context of the Emitter's own.
func TestEmitterIgnoresCancellation(t *testing.T) {
	s := &memSink{}
	em := oneStream(t, AdaptSink(s))
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "trace"))
	cancel()
	em.Emit(ctx, &Event{RequestID: "gone"})
	waitUntil(t, "the event's delivery", 5*time.Second, func() bool { evs, _ := s.snapshot(); return len(evs) == 1 })
	_, ctxErrs := s.snapshot()
	if len(ctxErrs) != 1 {
		t.Fatalf("sink got %d events, want 1", len(ctxErrs))
	}
	if err := ctxErrs[0]; err != nil {
		t.Errorf("sink ctx.Err() = %v, want nil", err)
	}
	closeEmitter(t, em)
}

func TestEmitterConcurrent(t *testing.T) {
	s := &memBatchSink{}
	em, err := New(Options{
		Default: &StreamOptions{Sinks: []SinkOptions{{Sink: NewJSONLines(discardCounter{})}}},
		Tenants: map[string]StreamOptions{"acme": {Sinks: []SinkOptions{{Sink: s}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 100 {
				em.Emit(t.Context(), &Event{Tenant: "acme"})
				em.Emit(t.Context(), &Event{})
			}
		})
	}
	wg.Wait()
	closeEmitter(t, em)
	if s.count() != 2000 || em.Failures() != 0 {
		t.Errorf("got %d events and %d failures, want 2000 and 0", s.count(), em.Failures())
	}
}

// TestEmitClearsSig: a caller cannot put a signature into the trail.
func TestEmitClearsSig(t *testing.T) {
	var buf syncBuf
	em := oneStream(t, NewJSONLines(&buf))
	em.Emit(t.Context(), &Event{Action: ActionCheckpoint, Sig: "ed25519:forged"})
	closeEmitter(t, em)
	if strings.Contains(string(buf.bytes()), "forged") {
		t.Fatalf("caller's sig written: %s", buf.bytes())
	}
}

// TestAdaptSink: a per-event sink gets each event of a batch, decoded from
// its line, in order.
func TestAdaptSink(t *testing.T) {
	s := &memSink{}
	var lines []Record
	for i, id := range []string{"a", "b"} {
		e := Event{RequestID: id, Seq: uint64(i + 1)}
		lines = append(lines, Record{Seq: e.Seq, Line: e.AppendJSON(nil)})
	}
	if err := AdaptSink(s).WriteBatch(t.Context(), &Batch{Records: lines}); err != nil {
		t.Fatal(err)
	}
	evs, _ := s.snapshot()
	if len(evs) != 2 || evs[0].RequestID != "a" || evs[1].RequestID != "b" {
		t.Fatalf("adapted sink got %+v", evs)
	}
	bad := &Batch{Records: []Record{{Seq: 1, Line: []byte("not json")}}}
	if err := AdaptSink(s).WriteBatch(t.Context(), bad); err == nil {
		t.Fatalf("a line that is not an event: %v", err)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

type discardCounter struct{}

func (discardCounter) Write(p []byte) (int, error) { return len(p), nil }
