package source

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/guard"
)

// Record is what the source calls of one request saw: the last call's
// status or fault, what the source said about its limits, and the time
// spent waiting on it. The transport writes it from the plugin's calls,
// which may be concurrent; the pipeline reads it when the request ends.
// The zero value is an empty record.
type Record struct {
	mu     sync.Mutex
	s      Snapshot
	waited atomic.Int64 // nanoseconds
}

// Snapshot is a Record at one moment.
type Snapshot struct {
	// LastCall is the number of calls and how the last one ended, as the
	// guard weighs it.
	guard.LastCall
	// Throttled is 429 or 503 when the last answer was one.
	Throttled int
	// RetryAfter is the hold the last answer's Retry-After put on the
	// connection (clamped to max_retry_after); 0 when it had none.
	RetryAfter time.Duration
	// The source's rate-limit headers, normalised to decimal integers
	// (reset in seconds from now); empty when the source sent none.
	Limit, Remaining, Reset string
}

// Snapshot returns what the record holds now.
func (r *Record) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}

// Waited is the time spent waiting on other systems for the request.
func (r *Record) Waited() time.Duration { return time.Duration(r.waited.Load()) }

// AddWait counts time spent waiting on another system for the request: a
// source, or the home region a request was relayed to.
func (r *Record) AddWait(d time.Duration) { r.waited.Add(int64(d)) }

func (r *Record) failed(f guard.Fault) {
	r.mu.Lock()
	r.s.Calls++
	r.s.Fault, r.s.Status, r.s.Throttled, r.s.RetryAfter = f, 0, 0, 0
	r.mu.Unlock()
}

// acked records an MLLP answer, with its acknowledgement as a status
// (ackStatus). An HL7 source sends no Retry-After, so nothing is held.
func (r *Record) acked(status int) {
	r.mu.Lock()
	r.s.Calls++
	r.s.Status, r.s.Fault, r.s.Throttled, r.s.RetryAfter = status, guard.FaultNone, 0, 0
	r.mu.Unlock()
}

// answered records an HTTP answer. A 429 or 503 with Retry-After puts the
// connection on hold for that long (g clamps it to max_retry_after).
func (r *Record) answered(resp *fasthttp.Response, g *guard.Guard, now time.Time) {
	st := resp.StatusCode()
	var ra time.Duration
	throttled := 0
	if st == fasthttp.StatusTooManyRequests || st == fasthttp.StatusServiceUnavailable {
		throttled = st
		if d, ok := parseRetryAfter(resp.Header.Peek("Retry-After"), now); ok {
			ra = g.Throttled(st, d)
		}
	}
	limit, remaining, reset := sourceRateLimit(&resp.Header, now)
	r.mu.Lock()
	r.s.Calls++
	r.s.Status, r.s.Fault, r.s.Throttled, r.s.RetryAfter = st, guard.FaultNone, throttled, ra
	if limit != "" || remaining != "" || reset != "" {
		r.s.Limit, r.s.Remaining, r.s.Reset = limit, remaining, reset
	}
	r.mu.Unlock()
}

// parseRetryAfter reads delta-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v []byte, now time.Time) (time.Duration, bool) {
	s := strings.TrimSpace(string(v))
	if s == "" {
		return 0, false
	}
	if n, ok := decimal(s); ok {
		return time.Duration(min(n, 1<<31)) * time.Second, true
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// decimal parses a short run of ASCII digits; nothing else is accepted, so
// nothing but a number of a source's header ever reaches a client.
func decimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// sourceRateLimit normalises the rate-limit headers sources send: the
// X-RateLimit-* family (reset as seconds or as a Unix time), the IETF
// draft's RateLimit-Limit/-Remaining/-Reset, and its structured form
// (RateLimit: limit=100, remaining=5, reset=30; or "policy";r=5;t=30 with
// RateLimit-Policy: "policy";q=100;w=60).
func sourceRateLimit(h *fasthttp.ResponseHeader, now time.Time) (limit, remaining, reset string) {
	num := func(names ...string) string {
		for _, n := range names {
			if v, ok := decimal(strings.TrimSpace(string(h.Peek(n)))); ok {
				return strconv.FormatInt(v, 10)
			}
		}
		return ""
	}
	limit = num("X-RateLimit-Limit", "RateLimit-Limit")
	remaining = num("X-RateLimit-Remaining", "RateLimit-Remaining")
	reset = num("X-RateLimit-Reset", "RateLimit-Reset")
	if v := h.Peek("RateLimit"); len(v) > 0 {
		p := structuredParams(string(v))
		limit = firstNonEmpty(limit, p["limit"])
		remaining = firstNonEmpty(remaining, p["remaining"], p["r"])
		reset = firstNonEmpty(reset, p["reset"], p["t"])
	}
	if limit == "" {
		if v := h.Peek("RateLimit-Policy"); len(v) > 0 {
			limit = structuredParams(string(v))["q"]
		}
	}
	if n, ok := decimal(reset); ok && n > 1_000_000_000 {
		// A Unix time (GitHub and others): seconds from now.
		reset = strconv.FormatInt(max(n-now.Unix(), 0), 10)
	}
	return limit, remaining, reset
}

// structuredParams picks name=number pairs out of a RateLimit header value,
// whatever separates them (",", ";" or spaces).
func structuredParams(v string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if n, ok := decimal(strings.TrimSpace(val)); ok {
			k = strings.ToLower(strings.TrimSpace(k))
			if _, seen := out[k]; !seen {
				out[k] = strconv.FormatInt(n, 10)
			}
		}
	}
	return out
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
