// Package auditlog records who reached which tenant's data, through which
// connection, when, and with what outcome: one Event per request, chained,
// signed, and delivered to the tenant's sinks. docs/audit.md is the
// reference for the wire format, the chain and the tools.
//
// The audit trail must hold no PHI, and it holds none by construction rather
// than by care. An Event has a fixed schema of plain strings, integers and
// one timestamp: no maps, no `any`, no byte slices, no nested free-form
// structs, so there is no field a caller could stuff a query string, a
// resource id, a patient name or an upstream body into. Every string field is
// filled from configuration (tenant, connection, connector, region, config
// hash), from a closed vocabulary (action, route template, error code), from
// Ferry itself (request, trace and chain ids, hashes, signatures, client id,
// source IP) or is a keyed one-way reference (PatientRef). A reviewer can
// audit the whole schema on one screen, and a test (event_test.go) fails
// when a field is added without updating its allow-list, so widening the
// schema is always a conscious, reviewed change.
//
// The wire format is one compact JSON object per line with a stable,
// documented key order (see Fields), encoded by hand in Event.AppendJSON
// because it is faster than encoding/json and allocation-free, and because
// the hash chain is computed over those exact bytes.
//
// Tamper evidence (chain.go, verify.go): the Emitter keeps one stream per
// tenant with a random chain id, gives each event the next seq and the
// SHA-256 of the previous event's line as prev_hash, and, with the tenant's
// Ed25519 key, adds a signed checkpoint every so many events or seconds.
// Verify reads any mix of chains back and reports deletions, reorderings,
// edits and forged checkpoints by line.
//
// Delivery: New builds an Emitter (emitter.go) whose streams (stream.go)
// hand each line to a bounded in-memory queue per sink (sinkqueue.go),
// delivered in batches, in order, with retries and backoff, by a bounded
// set of goroutines shared by every stream (delivery.go; none while nothing
// is queued); events are never spooled to disk. Admit implements the
// on_sink_failure policy: under block, a request is refused before it
// touches data when no sink can take its event. The sinks (stdout, webhook,
// syslog, CloudWatch Logs, Firehose, S3) are BatchSinks; NewSink builds one
// from a SinkConfig. Tests of code that emits events record them with
// auditlogtest instead.
//
// auditlog imports only the standard library, aws-sdk-go-v2 (for its AWS
// sinks) and Ferry's clock (internal/clock). It must never import unified
// or connectors: keeping the resource model out of reach is part of what
// keeps PHI out of the trail.
package auditlog
