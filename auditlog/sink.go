package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Sink is a destination that takes one event per call. The Emitter drives
// BatchSinks; AdaptSink makes a Sink one, and JSONLinesSink is both.
//
// Write must be safe for concurrent use, must not keep e (or anything that
// points into it) after it returns, and must not drop an event because ctx
// is done: a request whose client went away must still be audited. ctx
// carries values such as the trace only. Close releases the sink's
// resources; Write after Close returns an error.
type Sink interface {
	Write(ctx context.Context, e *Event) error
	Close() error
}

// ErrSinkClosed is returned by Write on a sink that has been closed.
var ErrSinkClosed = errors.New("auditlog: sink closed")

var (
	_ Sink      = (*JSONLinesSink)(nil)
	_ BatchSink = (*JSONLinesSink)(nil)
)

// JSONLinesSink writes each event as one line of compact JSON (see
// Event.AppendJSON for the key order) to an io.Writer, typically os.Stdout
// for a log collector to pick up.
//
// Each event reaches the writer in exactly one Write call, holding a mutex,
// so lines from concurrent requests never interleave, even on a writer that
// is not itself safe for concurrent use. Events are encoded outside the
// mutex, into pooled buffers, so the lock covers only the write itself and
// the steady state allocates nothing.
type JSONLinesSink struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

// NewJSONLines returns a sink writing JSON lines to w. The sink does not own
// w: Close stops the sink but leaves w open, since w is usually os.Stdout.
func NewJSONLines(w io.Writer) *JSONLinesSink {
	return &JSONLinesSink{w: w}
}

// maxPooledBuf bounds the buffers kept in the pool. A typical event is well
// under 1 KiB; an occasional huge one (a misconfigured, very long id) should
// not keep its buffer alive for the life of the process.
const maxPooledBuf = 16 << 10

// bufPool holds *[]byte rather than []byte so that Put does not allocate a
// slice header on every call.
var bufPool = sync.Pool{
	New: func() any {
		b := make([]byte, 0, 1024)
		return &b
	},
}

// Write encodes e and writes it, followed by a newline, in a single Write
// call to the underlying writer. ctx is not consulted: see Sink.
func (s *JSONLinesSink) Write(_ context.Context, e *Event) error {
	if e == nil {
		return errors.New("auditlog: nil event")
	}
	bp := bufPool.Get().(*[]byte)
	buf := e.AppendJSON((*bp)[:0])
	buf = append(buf, '\n')

	s.mu.Lock()
	closed := s.closed
	var err error
	if !closed {
		// io.Writer promises an error on a short write, so err alone tells
		// whether the whole line went out.
		_, err = s.w.Write(buf)
	}
	s.mu.Unlock()

	if cap(buf) <= maxPooledBuf {
		*bp = buf[:0]
		bufPool.Put(bp)
	}
	switch {
	case closed:
		return ErrSinkClosed
	case err != nil:
		return fmt.Errorf("auditlog: json lines write: %w", err)
	}
	return nil
}

// WriteBatch writes the batch's lines, each followed by a newline, in one
// Write call, so a batch never interleaves with another writer's lines.
func (s *JSONLinesSink) WriteBatch(_ context.Context, b *Batch) error {
	if b == nil || len(b.Records) == 0 {
		return errNilBatch
	}
	buf := appendLines(make([]byte, 0, linesSize(b.Records)), b.Records)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSinkClosed
	}
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("auditlog: json lines write: %w", err)
	}
	return nil
}

// Close marks the sink closed; later writes fail with ErrSinkClosed. It does
// not close the underlying writer, which the caller owns.
func (s *JSONLinesSink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
