package auditlogtest

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
)

// Recorder records audit events in memory. Its zero value is ready to use;
// it is safe for concurrent use.
type Recorder struct {
	// Lines, when set, also receives each event as its JSON line
	// (Event.AppendJSON and a newline), as a JSON lines sink writes it.
	Lines io.Writer

	mu     sync.Mutex
	events []auditlog.Event
}

// Admit admits every request: a recorder always has room.
func (r *Recorder) Admit(string) error { return nil }

// Emit records a copy of e, its Time set to now (UTC) when zero, as the
// audit trail sets it.
func (r *Recorder) Emit(_ context.Context, e *auditlog.Event) {
	if e == nil {
		return
	}
	ev := *e
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.Lines != nil {
		_, _ = r.Lines.Write(append(ev.AppendJSON(nil), '\n'))
	}
}

// Events returns the events recorded so far, in the order emitted.
func (r *Recorder) Events() []auditlog.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]auditlog.Event(nil), r.events...)
}
