package clock

import (
	"context"
	"time"
)

// Clock is where a decision reads the time, and what it waits on.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer whose channel receives once, after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d, unless the timer is
	// stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending wake-up of a Clock.
type Timer interface {
	// C is the channel a NewTimer timer fires on; nil for an AfterFunc one.
	C() <-chan time.Time
	// Stop cancels the timer; it reports whether it stopped it before it
	// fired.
	Stop() bool
}

// System is the real clock.
var System Clock = system{}

// Or is c, or System when c is nil: what a constructor keeps when its
// caller gave no clock.
func Or(c Clock) Clock {
	if c == nil {
		return System
	}
	return c
}

// Sleep waits d on c, unless ctx ends first; it reports whether the whole
// wait passed.
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}

type system struct{}

func (system) Now() time.Time { return time.Now() }

func (system) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

func (system) AfterFunc(d time.Duration, f func()) Timer { return systemTimer{time.AfterFunc(d, f)} }

// systemTimer is a *time.Timer as a Timer. It holds one pointer, so making
// one of it an interface value allocates nothing more.
type systemTimer struct{ t *time.Timer }

func (s systemTimer) C() <-chan time.Time { return s.t.C }

func (s systemTimer) Stop() bool { return s.t.Stop() }
