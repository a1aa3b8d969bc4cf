// Package proxy is Ferry's front: the fasthttp server that authenticates a
// client, resolves its tenant and connection, dispatches the request to the
// connector plugin, and answers with unified JSON or an RFC 9457 problem.
//
// The package is the pipeline. The order of its stages lives in exactly one
// place, the `pipeline` slice in pipeline.go; each stage writes the fields
// of the request's exchange (exchange.go) named beside them. It reaches
// down into three rooms of its own, which never reach back
// (docs/design.md, "Packages and import direction"; deps_test.go):
//
//   - proxy/guard admits a request to its connection and takes its outcome
//     back: the source's Retry-After hold, the breaker, the bulkhead, the
//     pacer and the retry budget (connection.go runs its stages);
//   - proxy/source is how Ferry talks to a source: the transport lent to a
//     connector for a request, with the connection's credentials, egress
//     policy and limits, over HTTP or MLLP;
//   - proxy/verdict decides the problem a failed request is answered with.
//
// The residency stage (residency.go) keeps a tenant's requests in its home
// region: elsewhere they are answered 421 or relayed there, never served.
// The clients' inbound limits are in ratelimit.go. All of it is per replica
// and in memory (docs/resilience.md).
//
// Nothing here writes to disk, and nothing request-specific reaches a log
// line, a metric label or a problem body except ids chosen by the operator
// (tenant, client, connection) and Ferry's own fixed vocabulary.
package proxy
