package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Record is one event as the delivery queue holds it: encoded once, at
// emit time, and handed to every sink of its stream as the same bytes.
type Record struct {
	// Seq is the event's seq in its chain.
	Seq uint64
	// Time is the event's time, raised where needed so that it never goes
	// backwards within a stream: sinks that index by time (CloudWatch
	// Logs, S3 keys) then keep seq order.
	Time time.Time
	// Line is the event's canonical JSON (Event.AppendJSON) without a
	// newline. It is shared between sinks and must not be modified.
	Line []byte
}

// Batch is what a BatchSink delivers in one call: consecutive events of one
// stream, in seq order.
type Batch struct {
	// Tenant is the stream's tenant; "" for the stream of events that had
	// none (requests refused before authentication).
	Tenant string
	// ChainID is the stream's chain id.
	ChainID string
	// Records are at least one event, in seq order.
	Records []Record
}

// BatchSink is a destination that takes events in batches: every sink the
// delivery queue drives (New) is one.
//
// WriteBatch delivers all of b or returns an error; on error the queue
// retries the same batch later, so a sink that delivered part of a batch
// before failing causes duplicates downstream, which `ferry audit verify`
// reports as such and does not count as tampering. WriteBatch must honour
// ctx's deadline, must not keep b or its lines after it returns, and is
// called by one goroutine at a time per sink and stream. Close releases the
// sink's resources and may be called more than once (a sink shared between
// streams is closed by each).
type BatchSink interface {
	WriteBatch(ctx context.Context, b *Batch) error
	Close() error
}

// BatchLimiter is implemented by sinks whose destination bounds a batch
// (CloudWatch Logs, Firehose): the queue never hands them more than
// maxRecords events or, unless a single event is larger, more than maxBytes
// bytes of lines (each counted with a newline).
type BatchLimiter interface {
	BatchLimits() (maxRecords, maxBytes int)
}

// AdaptSink turns a per-event Sink into a BatchSink, for sinks written
// before batching. Each line is decoded back into an Event, so it costs a
// JSON decode per event; the built-in sinks are all BatchSinks.
func AdaptSink(s Sink) BatchSink { return sinkAdapter{s} }

type sinkAdapter struct{ s Sink }

func (a sinkAdapter) WriteBatch(ctx context.Context, b *Batch) error {
	for _, r := range b.Records {
		var e Event
		if err := json.Unmarshal(r.Line, &e); err != nil {
			return fmt.Errorf("auditlog: adapt sink: %w", err)
		}
		if err := a.s.Write(ctx, &e); err != nil {
			return err
		}
	}
	return nil
}

func (a sinkAdapter) Close() error { return a.s.Close() }

// errNilBatch is returned for a nil or empty batch.
var errNilBatch = errors.New("auditlog: empty batch")

// appendLines appends each record's line and a newline to dst: the JSON
// lines body most sinks send.
func appendLines(dst []byte, recs []Record) []byte {
	for _, r := range recs {
		dst = append(dst, r.Line...)
		dst = append(dst, '\n')
	}
	return dst
}

func linesSize(recs []Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.Line) + 1
	}
	return n
}
