package unified

// Code is the stable, machine-readable reason of a problem. The set is
// closed: clients switch on it, so a new code is an API change and an old one
// never changes meaning.
type Code string

// The problem codes, with the HTTP status each one is answered with.
const (
	CodeBadRequest             Code = "bad_request"              // 400 malformed request
	CodeInvalidParameter       Code = "invalid_parameter"        // 400 a query parameter is unknown or malformed
	CodeMissingParameter       Code = "missing_parameter"        // 400 a filter the connector requires is absent
	CodeInvalidCursor          Code = "invalid_cursor"           // 400 the cursor is malformed, expired, or not this search's
	CodeInvalidID              Code = "invalid_id"               // 400 a path id is malformed
	CodeUnauthenticated        Code = "unauthenticated"          // 401 missing or wrong credentials
	CodeForbidden              Code = "forbidden"                // 403 authenticated, but not allowed this connection
	CodeInsufficientScope      Code = "insufficient_scope"       // 403 the client's scopes or policy do not cover this request
	CodeNotFound               Code = "not_found"                // 404 no such route or record
	CodeConnectionNotFound     Code = "connection_not_found"     // 404 no such connection for this client
	CodeMethodNotAllowed       Code = "method_not_allowed"       // 405
	CodeUnsupported            Code = "unsupported"              // 400 the connector does not offer this resource or filter
	CodeRequestTooLarge        Code = "request_too_large"        // 413
	CodeRequestTimeout         Code = "request_timeout"          // 408 the request did not arrive whole in time
	CodeUpstreamError          Code = "upstream_error"           // 502 the source answered with an error or garbage
	CodeConnectorError         Code = "connector_error"          // 502 the connector plugin failed or crashed
	CodeConnectorUnavailable   Code = "connector_unavailable"    // 503 the connector plugin is not running
	CodeCredentialsUnavailable Code = "credentials_unavailable"  // 503 the connection's secret cannot be read
	CodeSourceUnavailable      Code = "source_unavailable"       // 503 the source cannot be reached
	CodeAuditUnavailable       Code = "audit_unavailable"        // 503 no audit sink accepts events: not served unaudited
	CodeUpstreamTimeout        Code = "upstream_timeout"         // 504 the deadline passed before the source answered
	CodeRateLimited            Code = "rate_limited"             // 429 the client's own request rate limit is exhausted
	CodeSourceRateLimited      Code = "source_rate_limited"      // 503 the connection's rate or concurrency limit to the source is reached, or the source asked to slow down
	CodeInternal               Code = "internal"                 // 500 a bug in Ferry
	CodeMisdirectedRequest     Code = "misdirected_request"      // 421 this node's region does not serve the tenant: send the request to its home region
	CodeRegionUnavailable      Code = "region_unavailable"       // 503 the tenant's home region could not be reached to forward the request
	CodeInvalidBody            Code = "invalid_body"             // 400 a write's body is not a valid record of the resource: errors lists each problem
	CodeIdempotencyKeyRequired Code = "idempotency_key_required" // 400 a create without a well-formed Idempotency-Key
	CodePreconditionRequired   Code = "precondition_required"    // 428 an update without If-Match
	CodeVersionConflict        Code = "version_conflict"         // 412 If-Match is not the record's current version (ETag carries it)
	CodeIdempotencyKeyReused   Code = "idempotency_key_reused"   // 422 the Idempotency-Key was already used for another body
	CodeWriteRejected          Code = "write_rejected"           // 422 the source refused the record
	CodeChangesOverflow        Code = "changes_overflow"         // 409 more records share one change instant than a change cursor can tell apart
)

var codeStatus = map[Code]int{
	CodeBadRequest: 400, CodeInvalidParameter: 400, CodeMissingParameter: 400, CodeInvalidCursor: 400,
	CodeInvalidID: 400, CodeUnsupported: 400,
	CodeUnauthenticated: 401, CodeForbidden: 403, CodeInsufficientScope: 403, CodeNotFound: 404, CodeConnectionNotFound: 404,
	CodeMethodNotAllowed: 405, CodeRequestTooLarge: 413, CodeRequestTimeout: 408,
	CodeUpstreamError: 502, CodeConnectorError: 502,
	CodeConnectorUnavailable: 503, CodeCredentialsUnavailable: 503, CodeSourceUnavailable: 503, CodeAuditUnavailable: 503,
	CodeUpstreamTimeout: 504, CodeInternal: 500,
	CodeRateLimited: 429, CodeSourceRateLimited: 503,
	CodeMisdirectedRequest: 421, CodeRegionUnavailable: 503,
	CodeChangesOverflow: 409,
	CodeInvalidBody:     400, CodeIdempotencyKeyRequired: 400, CodePreconditionRequired: 428, CodeVersionConflict: 412,
	CodeIdempotencyKeyReused: 422, CodeWriteRejected: 422,
}

var codeTitle = map[Code]string{
	CodeBadRequest:             "The request is malformed.",
	CodeInvalidParameter:       "A query parameter is unknown or malformed.",
	CodeMissingParameter:       "A required query parameter is missing.",
	CodeInvalidCursor:          "The cursor is malformed, expired, or not valid for this search.",
	CodeInvalidID:              "The id in the path is malformed.",
	CodeUnauthenticated:        "Missing or invalid credentials.",
	CodeForbidden:              "This client may not use this connection.",
	CodeInsufficientScope:      "The client's scopes or policy do not allow this request.",
	CodeNotFound:               "Not found.",
	CodeConnectionNotFound:     "No such connection.",
	CodeMethodNotAllowed:       "Method not allowed.",
	CodeUnsupported:            "The connector does not support this request.",
	CodeRequestTooLarge:        "The request is too large.",
	CodeRequestTimeout:         "The request did not arrive in time.",
	CodeUpstreamError:          "The source system answered with an error.",
	CodeConnectorError:         "The connector failed to handle the request.",
	CodeConnectorUnavailable:   "The connector is not available.",
	CodeCredentialsUnavailable: "The connection's credentials are unavailable.",
	CodeSourceUnavailable:      "The source system is unavailable.",
	CodeAuditUnavailable:       "The audit trail cannot record this request, so it is not served.",
	CodeUpstreamTimeout:        "The source system did not answer in time.",
	CodeInternal:               "Internal error.",
	CodeRateLimited:            "Too many requests from this client; retry after the time in Retry-After.",
	CodeSourceRateLimited:      "The source system's request budget is used up for now; retry after the time in Retry-After.",
	CodeMisdirectedRequest:     "This region does not serve the tenant; send the request to the endpoint in X-Ferry-Home-Endpoint.",
	CodeRegionUnavailable:      "The tenant's home region could not be reached.",
	CodeChangesOverflow:        "More records share one change instant than the change feed can tell apart; search that instant with updated_gte, then poll from just after it.",
	CodeInvalidBody:            "The request body is not a valid record of the resource; errors lists each problem.",
	CodeIdempotencyKeyRequired: "A create needs an Idempotency-Key header of 1 to 255 visible ASCII characters.",
	CodePreconditionRequired:   "An update needs an If-Match header with the ETag the record was read with.",
	CodeVersionConflict:        "The record has changed since it was read; its current version is in ETag.",
	CodeIdempotencyKeyReused:   "This Idempotency-Key was already used for a different body.",
	CodeWriteRejected:          "The source system refused the record.",
}

// Codes returns every problem code, for documentation and tests.
func Codes() []Code {
	out := make([]Code, 0, len(codeStatus))
	for c := range codeStatus {
		out = append(out, c)
	}
	return out
}

// Status is the HTTP status a problem with this code is answered with; 500
// for a code outside the closed set.
func (c Code) Status() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return 500
}

// Title is the fixed human-readable summary of the code. It never carries
// request-specific text, so it can never carry PHI.
func (c Code) Title() string {
	if t, ok := codeTitle[c]; ok {
		return t
	}
	return codeTitle[CodeInternal]
}

// Retryable says whether the same request may succeed if sent again later.
func (c Code) Retryable() bool {
	switch c {
	case CodeConnectorError, CodeConnectorUnavailable, CodeCredentialsUnavailable,
		CodeSourceUnavailable, CodeUpstreamTimeout, CodeUpstreamError, CodeAuditUnavailable,
		CodeRateLimited, CodeSourceRateLimited, CodeRegionUnavailable:
		return true
	}
	return false
}

// Problem is an RFC 9457 problem details object, as served with
// Content-Type application/problem+json. Detail is chosen by Ferry from a
// fixed vocabulary (for example the name of an offending parameter); it never
// carries upstream text or PHI.
type Problem struct {
	// Type is a URI naming the problem: ProblemTypeBase followed by Code
	// ("https://ferry.dev/problems/not_found"), whose page documents it.
	Type string `json:"type"`
	// Title is the code's fixed human-readable summary; it never varies
	// with the request.
	Title string `json:"title"`
	// Status is the HTTP status code of the response, repeated in the body.
	Status int `json:"status"`
	// Code is the stable, machine-readable reason: switch on it, not on
	// Title or Detail.
	Code Code `json:"code"`
	// Detail says more when Ferry can, chosen from a fixed vocabulary (the
	// name of the offending parameter); never upstream text or PHI. Absent
	// when there is nothing to add.
	Detail string `json:"detail,omitempty"`
	// RequestID is the request's id, as in the X-Request-Id response
	// header; quote it when reporting the problem.
	RequestID string `json:"request_id,omitempty"`
	// Retryable says whether the same request may succeed if sent again
	// later: true for failures and outages of the source, the connector or
	// the connection's credentials. A create retried with the same
	// Idempotency-Key and body is safe: it writes at most once.
	Retryable bool `json:"retryable"`
	// Errors lists, for invalid_body, every problem of the body: its JSON
	// path and a reason from a closed set; never a value the client sent.
	Errors []FieldProblem `json:"errors,omitempty"`
}

// ProblemTypeBase prefixes the `type` URI of every problem; the code is
// appended. The page it names documents the code.
const ProblemTypeBase = "https://ferry.dev/problems/"

// NewProblem builds the problem for code, with an optional Ferry-chosen
// detail.
func NewProblem(code Code, detail, requestID string) Problem {
	return Problem{
		Type:      ProblemTypeBase + string(code),
		Title:     code.Title(),
		Status:    code.Status(),
		Code:      code,
		Detail:    detail,
		RequestID: requestID,
		Retryable: code.Retryable(),
	}
}
