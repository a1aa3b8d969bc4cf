package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
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
	if st := e.srv.connections["demo"].res.cb.State(); st != 0 {
		t.Errorf("breaker %v after a busy pool", st)
	}
}

// TestNoFreeConnectionIsNotTheSource: should the pool refuse a call
// (ErrNoFreeConns), that is Ferry's limit, not a source failure: not
// retried, and excluded from the breaker.
func TestNoFreeConnectionIsNotTheSource(t *testing.T) {
	err := classifyUpstreamErr(context.Background(), fasthttp.ErrNoFreeConns)
	if connectors.CodeOf(err) != connectors.CodeSourceUnavailable {
		t.Fatalf("code %v", connectors.CodeOf(err))
	}
	if f := faultOf(context.Background(), err); f != faultPool {
		t.Fatalf("fault %v, want faultPool", f)
	}
	x := &exchange{}
	x.up.noteFault(faultPool)
	if o := outcome(x, fail(unified.CodeSourceUnavailable, "")); o != errExcluded {
		t.Errorf("outcome %v, want excluded", o)
	}
}
