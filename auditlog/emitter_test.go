package auditlog

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// memSink records the events written to it.
type memSink struct {
	mu     sync.Mutex
	events []Event
	ctxs   []context.Context
}

func (s *memSink) Write(ctx context.Context, e *Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, *e)
	s.ctxs = append(s.ctxs, ctx)
	return nil
}

func (s *memSink) Close() error { return nil }

func (s *memSink) requestIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, e := range s.events {
		ids = append(ids, e.RequestID)
	}
	return ids
}

type errSink struct{}

func (errSink) Write(context.Context, *Event) error { return errors.New("sink down") }
func (errSink) Close() error                        { return nil }

type panicSink struct{}

func (panicSink) Write(context.Context, *Event) error { panic("broken sink") }
func (panicSink) Close() error                        { return nil }

func TestEmitterRouting(t *testing.T) {
	def, acme, globex := &memSink{}, &memSink{}, &memSink{}
	em := NewEmitter(def, map[string]Sink{"acme": acme, "globex": globex, "": acme})

	for _, e := range []Event{
		{RequestID: "1", Tenant: "acme"},
		{RequestID: "2", Tenant: "globex"},
		{RequestID: "3", Tenant: ""},        // refused before a tenant was known
		{RequestID: "4", Tenant: "initech"}, // not configured here
		{RequestID: "5", Tenant: "acme"},
	} {
		em.Emit(t.Context(), &e)
	}

	for _, c := range []struct {
		name string
		s    *memSink
		want []string
	}{
		{"acme", acme, []string{"1", "5"}},
		{"globex", globex, []string{"2"}},
		{"default", def, []string{"3", "4"}},
	} {
		if got := c.s.requestIDs(); !slices.Equal(got, c.want) {
			t.Errorf("%s sink got %v, want %v", c.name, got, c.want)
		}
	}
	if n := em.Failures(); n != 0 {
		t.Errorf("Failures = %d, want 0", n)
	}
}

func TestEmitterFailures(t *testing.T) {
	def := &memSink{}
	em := NewEmitter(def, map[string]Sink{
		"down":   errSink{},
		"broken": panicSink{},
		"nosink": nil,
	})
	em.Emit(t.Context(), &Event{Tenant: "down"})
	if n := em.Failures(); n != 1 {
		t.Fatalf("after a failing write: Failures = %d, want 1", n)
	}
	em.Emit(t.Context(), &Event{Tenant: "broken"})
	em.Emit(t.Context(), &Event{Tenant: "nosink"})
	em.Emit(t.Context(), nil)
	if n := em.Failures(); n != 4 {
		t.Errorf("Failures = %d, want 4", n)
	}
	// A tenant with a nil sink must not leak into the default sink.
	if ids := def.requestIDs(); len(ids) != 0 {
		t.Errorf("default sink got %d events, want none", len(ids))
	}

	noDefault := NewEmitter(nil, nil)
	noDefault.Emit(t.Context(), &Event{})
	if n := noDefault.Failures(); n != 1 {
		t.Errorf("nil default sink: Failures = %d, want 1", n)
	}
}

func TestEmitterTime(t *testing.T) {
	s := &memSink{}
	em := NewEmitter(s, nil)

	before := time.Now()
	e := &Event{}
	em.Emit(t.Context(), e)
	if e.Time.Before(before) || e.Time.After(time.Now()) || e.Time.Location() != time.UTC {
		t.Errorf("zero Time set to %v, want now in UTC", e.Time)
	}

	fixed := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	em.Emit(t.Context(), &Event{Time: fixed})
	if got := s.events[1].Time; !got.Equal(fixed) {
		t.Errorf("set Time overwritten: got %v, want %v", got, fixed)
	}
}

type ctxKey struct{}

// TestEmitterIgnoresCancellation checks that a request whose client went
// away (its context canceled) is still audited, with its context values.
func TestEmitterIgnoresCancellation(t *testing.T) {
	s := &memSink{}
	em := NewEmitter(s, nil)
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "trace"))
	cancel()
	em.Emit(ctx, &Event{RequestID: "gone"})
	if len(s.ctxs) != 1 {
		t.Fatalf("sink got %d events, want 1", len(s.ctxs))
	}
	if err := s.ctxs[0].Err(); err != nil {
		t.Errorf("sink ctx.Err() = %v, want nil", err)
	}
	if v := s.ctxs[0].Value(ctxKey{}); v != "trace" {
		t.Errorf("sink ctx lost its values: got %v", v)
	}
}

func TestEmitterConcurrent(t *testing.T) {
	s := &memSink{}
	em := NewEmitter(NewJSONLines(discardCounter{}), map[string]Sink{"acme": s})
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
	if len(s.events) != 2000 || em.Failures() != 0 {
		t.Errorf("got %d events and %d failures, want 2000 and 0", len(s.events), em.Failures())
	}
}

type discardCounter struct{}

func (discardCounter) Write(p []byte) (int, error) { return len(p), nil }
