package source

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/guard"
)

// TestNoFreeConnectionIsNotTheSource: should the pool refuse a call
// (ErrNoFreeConns), that is Ferry's limit, not a source failure: not
// retried, and excluded from the breaker (the guard's side of it is the
// "Ferry's own pool" row of guard's TestOutcomeEffect).
func TestNoFreeConnectionIsNotTheSource(t *testing.T) {
	err := classifyHTTPErr(context.Background(), fasthttp.ErrNoFreeConns)
	if connectors.CodeOf(err) != connectors.CodeSourceUnavailable {
		t.Fatalf("code %v", connectors.CodeOf(err))
	}
	if f := faultOf(context.Background(), err); f != guard.FaultPool {
		t.Fatalf("fault %v, want faultPool", f)
	}
}
