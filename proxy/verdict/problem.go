package verdict

import (
	"math"
	"strconv"
	"time"

	"github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/unified"
)

// Problem is a request failure on its way to the client: a code from the
// closed set and an optional Ferry-chosen detail (never upstream text).
type Problem struct {
	Code   unified.Code
	Detail string
	// RetryAfter, when set, is sent as Retry-After (whole seconds, at
	// least 1): how long the client should wait before trying again.
	// Every 429 and 503 carries one; 1 s when not set.
	RetryAfter time.Duration
	// Cause says who ended the request, where the connection's guard must
	// know it (Cause constants); CauseOther for every other failure.
	Cause Cause
	// Errors are an invalid body's problems (invalid_body).
	Errors []unified.FieldProblem
	// ETag, when set, is sent as the ETag header: a version conflict's
	// current version.
	ETag string
}

// Cause is who ended a failed request, as the connection's guard needs to
// know it.
type Cause uint8

const (
	// CauseOther: anything else (the source, the connector, the client).
	CauseOther Cause = iota
	// CauseGuard: the connection's guard refused it (breaker, bulkhead,
	// pacing, a source's Retry-After): the source was not asked, and the
	// breaker is not told.
	CauseGuard
	// CausePluginDown: the connector's plugin was refused at once, before
	// the deadline: it is backing off from a crash loop (or stopped), not
	// merely restarting. Every connection it serves opens its breaker.
	CausePluginDown
)

// Fail is a problem with code and detail.
func Fail(code unified.Code, detail string) *Problem { return &Problem{Code: code, Detail: detail} }

// Refused is the problem of a request the guard refused: the rejection's
// code and Retry-After.
func Refused(rj *guard.Rejection) *Problem {
	return &Problem{Code: rj.Code, RetryAfter: rj.RetryAfter, Cause: CauseGuard}
}

// Write answers rc with the RFC 9457 body for p.
func (p *Problem) Write(rc *fasthttp.RequestCtx, requestID string) {
	pb := unified.NewProblem(p.Code, p.Detail, requestID)
	pb.Errors = p.Errors
	if p.ETag != "" {
		rc.Response.Header.Set("ETag", p.ETag)
	}
	body, err := json.Marshal(pb)
	if err != nil {
		body = []byte(`{"type":"` + unified.ProblemTypeBase + `internal","title":"Internal error.","status":500,"code":"internal","retryable":false}`)
	}
	rc.Response.Header.SetContentType("application/problem+json")
	// Every 429 and 503 says when to come back: the time Ferry knows
	// (an open breaker, a source's Retry-After, a pacing turn), else 1 s.
	if ra := p.RetryAfter; ra > 0 || pb.Status == 429 || pb.Status == 503 {
		rc.Response.Header.Set("Retry-After", RetryAfterSeconds(ra))
	}
	rc.SetStatusCode(pb.Status)
	rc.SetBody(body)
}

// RetryAfterSeconds is the Retry-After value for a wait: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}
