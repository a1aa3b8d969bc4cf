package source

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestSourceRateLimitForms(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		hdr                     []string
		limit, remaining, reset string
	}{
		{[]string{"X-RateLimit-Limit", "60", "X-RateLimit-Remaining", "7", "X-RateLimit-Reset", "1700000045"}, "60", "7", "45"},
		{[]string{"RateLimit-Limit", "100", "RateLimit-Remaining", "0", "RateLimit-Reset", "12"}, "100", "0", "12"},
		{[]string{"RateLimit", "limit=10, remaining=3, reset=5"}, "10", "3", "5"},
		{[]string{"RateLimit", `"default";r=50;t=30`, "RateLimit-Policy", `"default";q=100;w=60`}, "100", "50", "30"},
		{[]string{"X-RateLimit-Limit", "<script>", "X-RateLimit-Remaining", "-1"}, "", "", ""},
		{nil, "", "", ""},
	} {
		var h fasthttp.ResponseHeader
		for i := 0; i+1 < len(c.hdr); i += 2 {
			h.Set(c.hdr[i], c.hdr[i+1])
		}
		l, r, s := sourceRateLimit(&h, now)
		if l != c.limit || r != c.remaining || s != c.reset {
			t.Errorf("%v: %q %q %q, want %q %q %q", c.hdr, l, r, s, c.limit, c.remaining, c.reset)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"Wed, 01 Jan 2025 00:00:30 GMT", 30 * time.Second, true},
		{"Tue, 31 Dec 2024 00:00:00 GMT", 0, true},
		{"soon", 0, false},
		{"-5", 0, false},
		{"", 0, false},
	} {
		got, ok := parseRetryAfter([]byte(c.in), now)
		if got != c.want || ok != c.ok {
			t.Errorf("%q: %v %v", c.in, got, ok)
		}
	}
}

func FuzzSourceRateLimit(f *testing.F) {
	f.Add("60", "7", "1700000045", "limit=10, remaining=3, reset=5", `"p";q=100;w=60`)
	f.Add("", "", "", `"default";r=50;t=30`, "")
	f.Fuzz(func(t *testing.T, limit, remaining, reset, combined, policy string) {
		var h fasthttp.ResponseHeader
		h.Set("X-RateLimit-Limit", limit)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", reset)
		h.Set("RateLimit", combined)
		h.Set("RateLimit-Policy", policy)
		l, r, s := sourceRateLimit(&h, time.Unix(1_700_000_000, 0))
		for _, v := range []string{l, r, s} {
			if _, ok := decimal(v); v != "" && !ok {
				t.Fatalf("not a plain number: %q", v)
			}
		}
		_, _ = parseRetryAfter([]byte(reset), time.Unix(0, 0))
	})
}
