package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// TestJSONLinesConcurrent writes from many goroutines into one bytes.Buffer,
// which is not safe for concurrent use by itself: run with -race, it fails
// if the sink ever lets two writes overlap, and the line checks fail if
// lines interleave.
func TestJSONLinesConcurrent(t *testing.T) {
	const goroutines, perGoroutine = 50, 200
	var buf bytes.Buffer
	s := NewJSONLines(&buf)

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				e := fullEvent()
				e.RequestID = fmt.Sprintf("g%d-i%d", g, i)
				if err := s.Write(t.Context(), e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	out := buf.String()
	if !strings.HasSuffix(out, "\n") {
		t.Fatal("output does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != goroutines*perGoroutine {
		t.Fatalf("got %d lines, want %d", len(lines), goroutines*perGoroutine)
	}
	ids := make(map[string]bool, len(lines))
	for n, line := range lines {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d is not valid JSON: %v\n%s", n+1, err, line)
		}
		ids[e.RequestID] = true
	}
	if len(ids) != goroutines*perGoroutine {
		t.Errorf("got %d distinct request ids, want %d", len(ids), goroutines*perGoroutine)
	}
}

// callRecorder keeps every Write call separately, to check that an event is
// never split across calls.
type callRecorder struct {
	mu    sync.Mutex
	calls [][]byte
}

func (r *callRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, bytes.Clone(p))
	return len(p), nil
}

func TestJSONLinesOneWritePerEvent(t *testing.T) {
	var rec callRecorder
	s := NewJSONLines(&rec)
	for range 3 {
		if err := s.Write(t.Context(), fullEvent()); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.calls) != 3 {
		t.Fatalf("got %d Write calls for 3 events", len(rec.calls))
	}
	want := append(fullEvent().AppendJSON(nil), '\n')
	for i, c := range rec.calls {
		if !bytes.Equal(c, want) {
			t.Errorf("call %d = %q, want %q", i, c, want)
		}
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestJSONLinesErrors(t *testing.T) {
	boom := errors.New("boom")
	if err := NewJSONLines(failWriter{boom}).Write(t.Context(), fullEvent()); !errors.Is(err, boom) {
		t.Errorf("writer error: got %v, want it wrapped", err)
	}
	s := NewJSONLines(io.Discard)
	if err := s.Write(t.Context(), nil); err == nil {
		t.Error("nil event: got no error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(t.Context(), fullEvent()); !errors.Is(err, ErrSinkClosed) {
		t.Errorf("write after close: got %v, want ErrSinkClosed", err)
	}
}

// TestJSONLinesAllocs holds the steady state of a write to zero allocations.
func TestJSONLinesAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	s := NewJSONLines(io.Discard)
	e := fullEvent()
	ctx := t.Context()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := s.Write(ctx, e); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("JSONLinesSink.Write allocates %.1f times per event, want 0", allocs)
	}
}

func BenchmarkJSONLinesWrite(b *testing.B) {
	s := NewJSONLines(io.Discard)
	e := fullEvent()
	ctx := b.Context()
	b.SetBytes(int64(len(e.AppendJSON(nil)) + 1))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Write(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONLinesWriteParallel(b *testing.B) {
	s := NewJSONLines(io.Discard)
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := fullEvent()
		for pb.Next() {
			if err := s.Write(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
