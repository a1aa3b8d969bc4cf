// Package source is how Ferry talks to a source: the one way a connector's
// request, or a passthrough, reaches a connection's source system.
//
// A connection's Source (New) is an HTTP source (http.go) or, for an
// mllp:// or mllps:// base URL, an MLLP source that exchanges HL7 v2
// messages (mllp.go); the two answer the same calls and refuse each
// other's. Each request borrows a Transport, which is what a connector
// sees: it injects the connection's credential (credentials.go), keeps
// every request under the base URL and every socket on an address the
// connection may reach (egress.go), bounds every answer, takes each call
// through the connection's guard (proxy/guard: the source's Retry-After,
// pacing, retries within the budget), and writes what the source answered
// into the request's Record (record.go), which the verdict and the guard
// read when the request ends.
//
// Only this package reaches a source. Its HTTP clients are shared by the
// connections of a node that name the same origin under the same egress
// policy (Clients); nothing here knows requests' routes, clients or
// tenants beyond the connection it serves.
package source
