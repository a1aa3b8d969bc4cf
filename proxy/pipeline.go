package proxy

// stage is one step of the request pipeline. A stage either lets the
// exchange continue (nil) or ends it with a problem.
type stage struct {
	name string
	run  func(*Server, *exchange) *problem
}

// pipeline is the order every API request goes through, in one place.
// Recovery, timing, metrics and the audit event wrap it in Server.serveAPI,
// so they happen for every request however far it got.
//
// The route is matched before authentication so that the one public route
// (the OpenAPI document) needs no key; every other route is refused with
// 401 before anything about it is looked up. Later stages slot in where
// DESIGN.md §1 puts them: residency after resolve_connection, inbound rate
// limits before parse_query.
var pipeline = []stage{
	{"request_id", (*Server).assignRequestID},
	{"route", (*Server).matchRoute},
	{"authenticate", (*Server).authenticate},
	{"resolve_connection", (*Server).resolveConnection},
	{"authorize", (*Server).authorize},
	{"admit_audit", (*Server).admitAudit},
	{"parse_query", (*Server).parseQuery},
	{"dispatch", (*Server).dispatch},
}
