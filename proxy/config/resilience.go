package config

import (
	"fmt"
	"math"
	"time"
)

// ConnectionLimits bound what one connection may ask of its source and how
// long a request to it may take. Every field is optional; a zero value means
// the default, which WithDefaults fills in. docs/resilience.md says how the
// limits act together.
type ConnectionLimits struct {
	// RatePerSecond paces the calls Ferry makes to the source: at most this
	// many per second, evenly spaced, for this replica. A request that
	// would have to wait past its deadline for its turn is answered 503
	// source_rate_limited at once. Default 0: not paced.
	RatePerSecond float64 `json:"rate_per_second,omitempty"`
	// MaxConcurrent bounds the requests in flight to this connection (the
	// bulkhead). Default 32.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// QueueTimeout is how long a request may wait for a free slot when
	// MaxConcurrent are in flight, never past its deadline. Default "0s":
	// refused at once with 503 source_rate_limited.
	QueueTimeout Duration `json:"queue_timeout,omitempty"`
	// MaxTimeout caps the deadline a client may ask for with the
	// X-Ferry-Timeout header. Default: the connection's timeout (clients
	// may shorten it, not lengthen it).
	MaxTimeout Duration `json:"max_timeout,omitempty"`
	// MaxRetryAfter caps how long Ferry honours a source's Retry-After
	// (and how long it tells clients to wait). Default "60s".
	MaxRetryAfter Duration `json:"max_retry_after,omitempty"`
	// MaxAttempts is how many times one source call of an idempotent read
	// (GET, HEAD) is tried after connection errors (refused, reset, closed
	// early); 1 turns retries off. Timeouts and HTTP statuses are never
	// retried. Default 3.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// RetryBudget is the share of source calls that may be retries, so
	// retries cannot multiply the load on a source that is failing.
	// Default 0.1, with a reserve of 10 retries.
	RetryBudget float64 `json:"retry_budget,omitempty"`
}

// Breaker configures a connection's circuit breaker. Source 5xx answers,
// timeouts, connection errors and plugin faults count as failures; 4xx
// answers and requests the client shortened or gave up do not.
type Breaker struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row. Default 5.
	ConsecutiveFailures uint32 `json:"consecutive_failures,omitempty"`
	// FailureRatio opens the breaker when at least this share of the
	// requests in the window failed, once MinRequests were seen. Default
	// 0.5.
	FailureRatio float64 `json:"failure_ratio,omitempty"`
	// MinRequests is how many requests the window must hold before
	// FailureRatio applies. Default 20.
	MinRequests uint32 `json:"min_requests,omitempty"`
	// Window is the rolling window (ten buckets) the ratio is computed
	// over. Default "60s".
	Window Duration `json:"window,omitempty"`
	// OpenFor is how long an open breaker refuses requests (with
	// Retry-After) before letting probes through. Default "10s".
	OpenFor Duration `json:"open_for,omitempty"`
	// HalfOpenProbes is how many requests may probe a half-open breaker;
	// that many successes in a row close it, one failure opens it again.
	// Default 1.
	HalfOpenProbes uint32 `json:"half_open_probes,omitempty"`
}

// ClientRateLimit is a client's inbound request limit on this replica: a
// token bucket that refuses at once (429 rate_limited with Retry-After) and
// never queues. Size it as the client's quota divided by the replica count.
type ClientRateLimit struct {
	// RequestsPerSecond is the sustained rate. Required, > 0.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Burst is how many requests may come at once after a quiet spell.
	// Default: RequestsPerSecond rounded up.
	Burst int `json:"burst,omitempty"`
}

// Defaults and bounds of the resilience settings.
const (
	DefaultMaxConcurrent       = 32
	MaxMaxConcurrent           = 10000
	DefaultMaxRetryAfter       = 60 * time.Second
	MaxMaxRetryAfter           = time.Hour
	DefaultMaxAttempts         = 3
	MaxMaxAttempts             = 10
	DefaultRetryBudget         = 0.1
	DefaultConsecutiveFailures = 5
	MaxConsecutiveFailures     = 1000
	DefaultFailureRatio        = 0.5
	DefaultMinRequests         = 20
	DefaultBreakerWindow       = 60 * time.Second
	DefaultBreakerOpenFor      = 10 * time.Second
	DefaultHalfOpenProbes      = 1
	MaxHalfOpenProbes          = 100
	MaxRatePerSecond           = 1e6
)

// WithDefaults returns l with every unset field at its default; timeout is
// the connection's default deadline.
func (l ConnectionLimits) WithDefaults(timeout Duration) ConnectionLimits {
	if l.MaxConcurrent == 0 {
		l.MaxConcurrent = DefaultMaxConcurrent
	}
	if l.MaxTimeout == 0 {
		l.MaxTimeout = timeout
	}
	if l.MaxRetryAfter == 0 {
		l.MaxRetryAfter = Duration(DefaultMaxRetryAfter)
	}
	if l.MaxAttempts == 0 {
		l.MaxAttempts = DefaultMaxAttempts
	}
	if l.RetryBudget == 0 {
		l.RetryBudget = DefaultRetryBudget
	}
	return l
}

// WithDefaults returns b with every unset field at its default.
func (b Breaker) WithDefaults() Breaker {
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if b.FailureRatio == 0 {
		b.FailureRatio = DefaultFailureRatio
	}
	if b.MinRequests == 0 {
		b.MinRequests = DefaultMinRequests
	}
	if b.Window == 0 {
		b.Window = Duration(DefaultBreakerWindow)
	}
	if b.OpenFor == 0 {
		b.OpenFor = Duration(DefaultBreakerOpenFor)
	}
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = DefaultHalfOpenProbes
	}
	return b
}

// BurstOrDefault is the bucket size of a client's limit.
func (r ClientRateLimit) BurstOrDefault() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return int(math.Ceil(r.RequestsPerSecond))
}

// resilience checks the connections' limits and breakers and the clients'
// rate limits.
func (v *validator) resilience(c *Config) {
	for i, cn := range c.Connections {
		at := fmt.Sprintf("$.connections[%d]", i)
		l := cn.Limits
		if bad(l.RatePerSecond) || l.RatePerSecond < 0 || l.RatePerSecond > MaxRatePerSecond {
			v.add(at+".limits.rate_per_second", fmt.Sprintf("must be between 0 (not paced) and %g", float64(MaxRatePerSecond)))
		}
		if l.MaxConcurrent < 0 || l.MaxConcurrent > MaxMaxConcurrent {
			v.add(at+".limits.max_concurrent", fmt.Sprintf("must be between 1 and %d", MaxMaxConcurrent))
		}
		if l.QueueTimeout < 0 || l.QueueTimeout.D() > MaxConnectionTimeout {
			v.add(at+".limits.queue_timeout", fmt.Sprintf("must be between 0 and %s", MaxConnectionTimeout))
		}
		if l.MaxTimeout < 0 || l.MaxTimeout.D() > MaxConnectionTimeout {
			v.add(at+".limits.max_timeout", fmt.Sprintf("must be between 0 and %s", MaxConnectionTimeout))
		} else if l.MaxTimeout != 0 && l.MaxTimeout < cn.Timeout {
			v.add(at+".limits.max_timeout", "must not be shorter than the connection's timeout")
		}
		if l.MaxRetryAfter < 0 || l.MaxRetryAfter.D() > MaxMaxRetryAfter {
			v.add(at+".limits.max_retry_after", fmt.Sprintf("must be between 0 and %s", MaxMaxRetryAfter))
		}
		if l.MaxAttempts < 0 || l.MaxAttempts > MaxMaxAttempts {
			v.add(at+".limits.max_attempts", fmt.Sprintf("must be between 1 (no retry) and %d", MaxMaxAttempts))
		}
		if bad(l.RetryBudget) || l.RetryBudget < 0 || l.RetryBudget > 1 {
			v.add(at+".limits.retry_budget", "must be between 0 and 1")
		}
		b := cn.Breaker
		if b.ConsecutiveFailures > MaxConsecutiveFailures {
			v.add(at+".breaker.consecutive_failures", fmt.Sprintf("must be between 1 and %d", MaxConsecutiveFailures))
		}
		if bad(b.FailureRatio) || b.FailureRatio < 0 || b.FailureRatio > 1 {
			v.add(at+".breaker.failure_ratio", "must be between 0 and 1")
		}
		if b.Window < 0 || (b.Window != 0 && b.Window.D() < time.Second) || b.Window.D() > time.Hour {
			v.add(at+".breaker.window", "must be between 1s and 1h")
		}
		if b.OpenFor < 0 || (b.OpenFor != 0 && b.OpenFor.D() < 10*time.Millisecond) || b.OpenFor.D() > time.Hour {
			v.add(at+".breaker.open_for", "must be between 10ms and 1h")
		}
		if b.HalfOpenProbes > MaxHalfOpenProbes {
			v.add(at+".breaker.half_open_probes", fmt.Sprintf("must be between 1 and %d", MaxHalfOpenProbes))
		}
	}
	for i, cl := range c.Clients {
		r := cl.RateLimit
		if r == nil {
			continue
		}
		at := fmt.Sprintf("$.clients[%d].rate_limit", i)
		if bad(r.RequestsPerSecond) || r.RequestsPerSecond <= 0 || r.RequestsPerSecond > MaxRatePerSecond {
			v.add(at+".requests_per_second", fmt.Sprintf("required: more than 0 and at most %g", float64(MaxRatePerSecond)))
		}
		if r.Burst < 0 || r.Burst > 1_000_000 {
			v.add(at+".burst", "must be between 1 and 1000000")
		}
	}
}

func bad(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
