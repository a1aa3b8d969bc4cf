package proxy

import (
	"github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/unified"
)

// problem is a request failure on its way to the client: a code from the
// closed set and an optional Ferry-chosen detail (never upstream text).
type problem struct {
	code   unified.Code
	detail string
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
	rc.SetStatusCode(pb.Status)
	rc.SetBody(body)
}
