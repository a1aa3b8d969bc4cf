package clock

import (
	"sync"
	"time"
)

// Manual is a Clock that moves only when Advance moves it: a test
// decides when holds end, timers fire and backoffs are over. Its zero value
// is not usable; NewManual makes one.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

// NewManual returns a Manual clock reading start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now implements Clock.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// NewTimer implements Clock.
func (m *Manual) NewTimer(d time.Duration) Timer {
	return m.add(d, &manualTimer{c: make(chan time.Time, 1)})
}

// AfterFunc implements Clock.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	return m.add(d, &manualTimer{f: f})
}

func (m *Manual) add(d time.Duration, t *manualTimer) Timer {
	m.mu.Lock()
	t.m, t.at = m, m.now.Add(d)
	m.timers = append(m.timers, t)
	m.mu.Unlock()
	if d <= 0 {
		m.Advance(0)
	}
	return t
}

// Advance moves the clock forward by d and fires every timer due by then,
// in the order they are due.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	now := m.now
	var due, left []*manualTimer
	for _, t := range m.timers {
		if t.at.After(now) {
			left = append(left, t)
		} else {
			due = append(due, t)
		}
	}
	m.timers = left
	m.mu.Unlock()
	for len(due) > 0 {
		next := 0
		for i, t := range due {
			if t.at.Before(due[next].at) {
				next = i
			}
		}
		due[next].fire(now)
		due = append(due[:next], due[next+1:]...)
	}
}

// Waiting reports how many timers have yet to fire: a test waits for the
// code under test to start its wait before it advances the clock.
func (m *Manual) Waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

type manualTimer struct {
	m  *Manual
	at time.Time
	c  chan time.Time // NewTimer's
	f  func()         // AfterFunc's
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	for i, p := range t.m.timers {
		if p == t {
			t.m.timers = append(t.m.timers[:i], t.m.timers[i+1:]...)
			return true
		}
	}
	return false
}

func (t *manualTimer) fire(now time.Time) {
	if t.f != nil {
		go t.f()
		return
	}
	t.c <- now
}
