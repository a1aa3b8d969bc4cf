package guard

import (
	"context"
	"sync"
	"time"

	"go.uber.org/ratelimit"

	"github.com/ferryhealth/ferry/internal/clock"
)

// pacer spaces a connection's source calls at its configured rate with
// go.uber.org/ratelimit, and refuses a call that would have to wait past its
// deadline instead of blocking. Take cannot be cancelled, so the wait is
// known before it is taken: the pacer keeps the limiter's schedule (strict,
// no slack) beside it and admits a call only if its turn comes in time.
type pacer struct {
	rl  ratelimit.Limiter
	per time.Duration
	clk clock.Clock

	mu   sync.Mutex
	next time.Time // when the next call may go, by the limiter's rule
}

func newPacer(perSecond float64, clk clock.Clock) *pacer {
	per := time.Duration(float64(time.Second) / perSecond)
	rl := ratelimit.New(1, ratelimit.Per(per), ratelimit.WithoutSlack, ratelimit.WithClock(limiterClock{clk}))
	return &pacer{rl: rl, per: per, clk: clk}
}

// wait blocks until the call's turn, or returns at once how long it would
// have had to wait when that is past the deadline.
func (p *pacer) wait(deadline time.Time) (time.Duration, bool) {
	p.mu.Lock()
	now := p.clk.Now()
	turn := p.next
	if turn.Before(now) {
		turn = now
	}
	if !turn.Before(deadline) {
		p.mu.Unlock()
		return turn.Sub(now), false
	}
	p.next = turn.Add(p.per)
	p.mu.Unlock()
	p.rl.Take()
	return 0, true
}

// limiterClock is the guard's clock as ratelimit wants one. The limiter
// sleeps only for a turn the pacer has already found to come before the
// deadline, so its sleep needs no context.
type limiterClock struct{ clock.Clock }

func (c limiterClock) Sleep(d time.Duration) { clock.Sleep(context.Background(), c.Clock, d) }
