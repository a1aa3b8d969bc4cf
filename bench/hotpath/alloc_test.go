package hotpath

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// allocCeilings are loose upper bounds on heap allocations per request in
// the proxy's process (client side of the in-memory listener included),
// with the FHIR connector in-process. They catch a regression of an order
// of magnitude, not a few allocations: tighten them as the path is
// trimmed (docs/performance.md has the current figures).
var allocCeilings = map[string]float64{
	"capabilities": 150,
	"W1":           300,
	"W2":           2500,
}

// TestRequestPathAllocs reports heap allocations per request on the
// request path and fails above a loose ceiling.
//
// Alone: go test -run TestRequestPathAllocs -v ./bench/hotpath/
func TestRequestPathAllocs(t *testing.T) {
	g := newGateway(t, false)
	for _, p := range paths {
		ceiling, ok := allocCeilings[p.name]
		if !ok {
			continue
		}
		req := g.request(p.path)
		resp := fasthttp.AcquireResponse()
		g.get(t, req, resp)
		n := testing.AllocsPerRun(200, func() { g.get(t, req, resp) })
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		t.Logf("%-12s %s: %.0f allocations per request (ceiling %.0f)", p.name, p.path, n, ceiling)
		if !raceEnabled && n > ceiling {
			t.Errorf("%s: %.0f allocations per request, above the ceiling of %.0f", p.name, n, ceiling)
		}
	}
}
