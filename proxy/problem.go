package proxy

import (
	"time"

	"github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/unified"
)

// problem is a request failure on its way to the client: a code from the
// closed set and an optional Ferry-chosen detail (never upstream text).
type problem struct {
	code   unified.Code
	detail string
	// retryAfter, when set, is sent as Retry-After (whole seconds, at
	// least 1): how long the client should wait before trying again.
	// Every 429 and 503 carries one; 1 s when not set.
	retryAfter time.Duration
}

func fail(code unified.Code, detail string) *problem { return &problem{code: code, detail: detail} }

// writeProblem answers rc with the RFC 9457 body for p.
func writeProblem(rc *fasthttp.RequestCtx, p *problem, requestID string) {
	pb := unified.NewProblem(p.code, p.detail, requestID)
	body, err := json.Marshal(pb)
	if err != nil {
		body = []byte(`{"type":"` + unified.ProblemTypeBase + `internal","title":"Internal error.","status":500,"code":"internal","retryable":false}`)
	}
	rc.Response.Header.SetContentType("application/problem+json")
	// Every 429 and 503 says when to come back: the time Ferry knows
	// (an open breaker, a source's Retry-After, a pacing turn), else 1 s.
	if ra := p.retryAfter; ra > 0 || pb.Status == 429 || pb.Status == 503 {
		rc.Response.Header.Set("Retry-After", retryAfterSeconds(ra))
	}
	rc.SetStatusCode(pb.Status)
	rc.SetBody(body)
}
