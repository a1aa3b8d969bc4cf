package proxy

import "github.com/ferryhealth/ferry/proxy/verdict"

// stage is one step of the request pipeline. A stage either lets the
// exchange continue (nil) or ends it with a problem.
type stage struct {
	name string
	run  func(*Server, *exchange) *verdict.Problem
	// traced stages get a span of their own (trace.go): those that wait on
	// something outside the process or may take long.
	traced bool
}

// pipeline is the order every API request goes through, in one place.
// Recovery, timing, metrics, the request's trace span and the audit event
// wrap it in Server.serveAPI, so they happen for every request however far
// it got; so does the settling of what admit_connection took (a bulkhead
// slot, a breaker outcome).
//
// The route is matched before authentication so that the one public route
// (the OpenAPI document) needs no key: the route stage answers it, and
// ends the pipeline. Every other route is refused with 401 before anything
// about it is looked up. The client's inbound limit
// comes once the client is known and allowed, and refuses at once (429)
// before any work is spent on the request. The deadline is fixed before
// admission so that a bulkhead wait is bounded by it; admission (the
// source's Retry-After hold, the breaker, the bulkhead) comes last, so that
// a request refused for its own faults never takes a slot or a probe.
// Pacing and retries happen per source call, in the host transport.
// Authorization comes in two steps: authorize refuses a route the
// client's scopes do not reach before any work is spent; restrict_query,
// once the query is known, forces a scope's restriction and the patient
// compartment on it (and dispatch checks every record against them).
// A pseudonymized client's pseudonyms are opened into the source's ids
// before the query is parsed, so every later stage, the cursor and the
// audit trail's keyed patient reference see the real ids, and only
// dispatch's answer is sealed again.
// A write's body is decoded strictly (parse_body) before its deadline
// starts and before it is admitted, so that a bad body costs the source
// nothing; restrict_query then checks a created record against the
// client's grants (its patient, a scope's restriction).
// Residency comes as soon as the tenant and connection are known, and
// before anything reads the tenant's secrets, admits its audit event or
// calls its source: a node outside the tenant's home region answers 421 or
// relays the request there, and serves nothing itself (docs/residency.md).
var pipeline = []stage{
	{"request_id", (*Server).assignRequestID, false},
	{"route", (*Server).matchRoute, false},
	{"authenticate", (*Server).authenticate, true},
	{"resolve_connection", (*Server).resolveConnection, false},
	{"residency", (*Server).checkResidency, true},
	{"authorize", (*Server).authorize, false},
	{"rate_limit", (*Server).limitClient, false},
	{"admit_audit", (*Server).admitAudit, true},
	{"open_pseudonyms", (*Server).openPseudonyms, false},
	{"parse_query", (*Server).parseQuery, false},
	{"parse_body", (*Server).parseBody, false},
	{"restrict_query", (*Server).restrictQuery, false},
	{"deadline", (*Server).setDeadline, false},
	{"admit_connection", (*Server).admitConnection, true},
	{"dispatch", (*Server).dispatch, true},
}
