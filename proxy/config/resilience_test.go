package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestResilienceDefaultsAndProblems(t *testing.T) {
	c, probs := Parse([]byte(fmt.Sprintf(validDoc, hexA, hexB)), "")
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	l := c.Connections[0].Limits.WithDefaults(c.Connections[0].Timeout)
	b := c.Connections[0].Breaker.WithDefaults()
	if l.MaxConcurrent != DefaultMaxConcurrent || l.MaxTimeout.D() != DefaultConnectionTimeout || l.MaxAttempts != DefaultMaxAttempts ||
		l.RatePerSecond != 0 || l.MaxRetryAfter.D() != DefaultMaxRetryAfter || l.RetryBudget != DefaultRetryBudget {
		t.Errorf("limit defaults: %+v", l)
	}
	if b.ConsecutiveFailures != 5 || b.FailureRatio != 0.5 || b.MinRequests != 20 || b.OpenFor.D() != 10*time.Second || b.HalfOpenProbes != 1 {
		t.Errorf("breaker defaults: %+v", b)
	}

	doc := strings.Replace(fmt.Sprintf(validDoc, hexA, hexB), `"timeout": "30s",`, `"timeout": "30s",
	 "limits": {"rate_per_second": -1, "max_concurrent": -2, "max_timeout": "10s", "max_retry_after": "2h", "max_attempts": 11, "retry_budget": 2},
	 "breaker": {"failure_ratio": 1.5, "window": "10ms", "open_for": "2h", "consecutive_failures": 1001},`, 1)
	doc = strings.Replace(doc, `"connections": ["epic"]}`, `"connections": ["epic"], "rate_limit": {"requests_per_second": 0, "burst": -1}}`, 1)
	_, probs = Parse([]byte(doc), "")
	want := []string{
		"$.connections[1].limits.rate_per_second", "$.connections[1].limits.max_concurrent",
		"$.connections[1].limits.max_timeout", "$.connections[1].limits.max_retry_after",
		"$.connections[1].limits.max_attempts", "$.connections[1].limits.retry_budget",
		"$.connections[1].breaker.consecutive_failures", "$.connections[1].breaker.failure_ratio",
		"$.connections[1].breaker.window", "$.connections[1].breaker.open_for",
		"$.clients[0].rate_limit.requests_per_second", "$.clients[0].rate_limit.burst",
	}
	got := map[string]bool{}
	for _, p := range probs {
		got[p.Path] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no problem at %s (got %v)", w, probs)
		}
	}
	if len(probs) != len(want) {
		t.Errorf("%d problems, want %d: %v", len(probs), len(want), probs)
	}
}
