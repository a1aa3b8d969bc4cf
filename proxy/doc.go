// Package proxy is Ferry's front: the fasthttp server that authenticates a
// client, resolves its tenant and connection, dispatches the request to the
// connector plugin, and answers with unified JSON or an RFC 9457 problem.
//
// The order of the request pipeline lives in exactly one place, the
// `pipeline` slice in pipeline.go. The host transport (transport.go) is the
// plugins' only way to a source: it injects credentials, enforces the egress
// policy (egress.go) and bounds every answer; for mllp:// and mllps://
// connections it exchanges HL7 v2 messages instead (mllptransport.go),
// under the same policy and limits. The residency stage
// (residency.go) keeps a tenant's requests in its home region: elsewhere
// they are answered 421 or relayed there, never served. Each connection's breaker, bulkhead,
// pacer, retry budget and the source's Retry-After hold live in
// resilience.go, the clients' inbound limits in ratelimit.go; all of it is
// per replica and in memory (docs/resilience.md).
//
// Nothing here writes to disk, and nothing request-specific reaches a log
// line, a metric label or a problem body except ids chosen by the operator
// (tenant, client, connection) and Ferry's own fixed vocabulary.
package proxy
