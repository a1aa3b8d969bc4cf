package guard

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/unified"
)

// Call is one source call's way through the guard: before each attempt the
// source's Retry-After hold and the pacer (Attempt), after a failed one the
// retry budget and the backoff (Retry). It lives on its caller's stack.
type Call struct {
	g        *Guard
	deadline time.Time
	attempt  int
}

// Call starts a source call that must be done by deadline. Every call earns
// the connection's retry budget its share.
func (g *Guard) Call(deadline time.Time) Call {
	g.budget.earn()
	return Call{g: g, deadline: deadline}
}

// Attempt lets the next attempt go, or refuses it: during a source's
// Retry-After, or when its turn from the pacer would come after the
// deadline. It waits for the pacer's turn otherwise.
func (c *Call) Attempt() *Rejection {
	c.attempt++
	g := c.g
	if rj := g.held(g.clk.Now()); rj != nil {
		return rj
	}
	if g.pacer != nil {
		if wait, ok := g.pacer.wait(c.deadline); !ok {
			return g.reject(unified.CodeSourceRateLimited, wait, ReasonRate)
		}
	}
	return nil
}

// Retry decides whether an attempt that failed to connect is tried again:
// while attempts are left (max_attempts), the backoff ends before the
// deadline and the retry budget has a retry to spend. It waits the backoff
// (or until ctx ends) and reports whether to go on.
func (c *Call) Retry(ctx context.Context) bool {
	g := c.g
	if c.attempt >= g.limits.MaxAttempts {
		return false
	}
	wait := backoff(c.attempt)
	if !g.clk.Now().Add(wait).Before(c.deadline) || !g.budget.spend() {
		return false
	}
	if !clock.Sleep(ctx, g.clk, wait) {
		return false
	}
	g.m.retries.WithLabelValues(g.connID).Inc()
	return true
}

// backoff is the wait before retry n (1, 2, …): 25 ms doubling, capped at
// 1 s, with "equal jitter" (half fixed, half random) so that requests that
// failed together do not retry together.
func backoff(n int) time.Duration {
	d := min(25*time.Millisecond<<(n-1), time.Second)
	return d/2 + rand.N(d/2+1)
}

// RetryReserve is the retries a connection may make before its budget has
// earned any, and the most it keeps.
const RetryReserve = 10

// retryBudget lets retries be at most a share of a connection's calls: each
// call earns ratio of a retry, each retry spends one.
type retryBudget struct {
	mu     sync.Mutex
	ratio  float64
	tokens float64
}

func (b *retryBudget) earn() {
	b.mu.Lock()
	b.tokens = min(b.tokens+b.ratio, RetryReserve)
	b.mu.Unlock()
}

func (b *retryBudget) spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
