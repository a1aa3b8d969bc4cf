package proxy

import (
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// tokenBucket is a client's inbound request limit. It never waits: a
// request finds a token or is refused at once with the time until the next
// one. Blocking here would hold the client's connection and a goroutine
// for nothing: inbound limits answer 429 at once; pacing with a
// wait belongs to the calls Ferry makes to sources.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(perSecond float64, burst int) *tokenBucket {
	return &tokenBucket{rate: perSecond, burst: float64(burst), tokens: float64(burst)}
}

// take spends a token if there is one; otherwise it says how long until
// there will be.
func (b *tokenBucket) take(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// limitClient applies the client's inbound limit: 429 rate_limited with
// Retry-After, at once.
func (s *Server) limitClient(x *exchange) *verdict.Problem {
	if x.client == nil || x.client.limiter == nil {
		return nil
	}
	ok, wait := x.client.limiter.take(s.clock.Now())
	if ok {
		return nil
	}
	s.metrics.clientRejections.WithLabelValues(x.client.id).Inc()
	return &verdict.Problem{Code: unified.CodeRateLimited, RetryAfter: wait}
}

// setIf sets a response header when v is not empty.
func setIf(h *fasthttp.ResponseHeader, name, v string) {
	if v != "" {
		h.Set(name, v)
	}
}
