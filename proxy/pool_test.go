package proxy

import (
	"testing"
	"time"
)

// TestMoreInFlightThanConnections: with more requests in flight than the
// source client's connection pool holds (512), the extra ones wait for a
// free connection within their deadline instead of failing, and nothing
// counts against the breaker (W6 of the benchmark, at a smaller scale).
func TestMoreInFlightThanConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("700 requests in flight")
	}
	e, _ := limitsGateway(t, "slow_300ms", map[string]any{"max_concurrent": 1000, "max_timeout": "10s"},
		map[string]any{"consecutive_failures": 2}, func(c map[string]any) { connCfg(c, 0)["timeout"] = "10s" })
	replies := parallel(t, e, 700, 10*time.Second)
	bad := 0
	for _, r := range replies {
		if r.status != 200 {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d requests failed with more in flight than connections", bad, len(replies))
	}
	if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 0 {
		t.Errorf("breaker %v after a busy pool", st)
	}
}
