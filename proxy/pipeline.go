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
// Later stages slot in where DESIGN.md §1 puts them: residency after
// resolve_connection, scopes and inbound rate limits before parse_query.
var pipeline = []stage{
	{"request_id", (*Server).assignRequestID},
	{"authenticate", (*Server).authenticate},
	{"route", (*Server).matchRoute},
	{"resolve_connection", (*Server).resolveConnection},
	{"parse_query", (*Server).parseQuery},
	{"dispatch", (*Server).dispatch},
}
