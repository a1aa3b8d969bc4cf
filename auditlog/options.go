package auditlog

import (
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/ferryhealth/ferry/internal/clock"
)

// Policy is what a stream does when its sinks cannot keep up.
type Policy string

// The on_sink_failure policies.
const (
	// PolicyBlock (the default): once every sink's queue is full, Admit
	// refuses requests that would touch the tenant's data, so nothing is
	// served unaudited. Events of requests already admitted are still
	// queued, in a reserve as large as the queue.
	PolicyBlock Policy = "block"
	// PolicyDrop: requests are always admitted; an event that finds every
	// queue full is dropped and counted (Stats, StreamStats.Dropped).
	PolicyDrop Policy = "drop"
)

// Defaults for New. The config documents each next to its field.
const (
	DefaultQueueSize          = 10000
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultBatchSize          = 100
	DefaultSinkTimeout        = 10 * time.Second
	DefaultRetryMin           = 100 * time.Millisecond
	DefaultRetryMax           = 30 * time.Second
	// defaultMaxBatchBytes bounds a batch for sinks without their own
	// limits (BatchLimiter).
	defaultMaxBatchBytes = 4 << 20
)

// Options configure New.
type Options struct {
	// Region and ConfigHash are written on the checkpoints the Emitter
	// adds, like the proxy writes them on request events.
	Region     string
	ConfigHash string
	// Default receives events without a tenant (requests refused before
	// authentication). nil counts such events as failures, as are events
	// of tenants not in Tenants.
	Default *StreamOptions
	// Tenants holds one stream per tenant id.
	Tenants map[string]StreamOptions
	// Logger receives delivery failures and recoveries (never event
	// content). nil discards them.
	Logger *slog.Logger
	// Clock is what events, checkpoints, flushes and retry backoffs read
	// and wait on; nil is the system clock.
	Clock clock.Clock
}

// StreamOptions configure one tenant's stream: its sinks, its queue and its
// checkpoints.
type StreamOptions struct {
	// Sinks are where the stream's events go; each gets every event, from
	// its own queue, so a slow sink does not hold back the others.
	Sinks []SinkOptions
	// OnSinkFailure is PolicyBlock (default, also for "") or PolicyDrop.
	OnSinkFailure Policy
	// QueueSize bounds each sink's queue, in events. Default
	// DefaultQueueSize. Under PolicyBlock a further QueueSize events of
	// admitted requests may be held (see PolicyBlock).
	QueueSize int
	// SigningKey signs checkpoints; nil means no checkpoints (the chain is
	// still kept).
	SigningKey ed25519.PrivateKey
	// CheckpointEvery adds a checkpoint after this many events. Default
	// DefaultCheckpointEvery.
	CheckpointEvery int
	// CheckpointInterval adds a checkpoint when events have been added and
	// this long has passed since the last one. Default
	// DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff between
	// attempts to deliver a batch that failed. Defaults DefaultRetryMin,
	// DefaultRetryMax.
	RetryMin, RetryMax time.Duration
}

// SinkOptions is one sink of a stream and how it is fed.
type SinkOptions struct {
	// Name labels the sink in Stats and logs; unique within a stream.
	Name string
	// Sink is owned by the Emitter from New on: Close closes it.
	Sink BatchSink
	// BatchSize is the most events per WriteBatch. Default
	// DefaultBatchSize, capped by the sink's BatchLimits.
	BatchSize int
	// FlushInterval is how long a batch may wait to fill before it is
	// sent anyway; 0 sends whatever is queued at once.
	FlushInterval time.Duration
	// Timeout bounds one WriteBatch. Default DefaultSinkTimeout.
	Timeout time.Duration
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
