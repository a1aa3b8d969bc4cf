// Package auditlog records who reached which tenant's data, through which
// connection, when, and with what outcome: one Event per request, written to
// the tenant's sinks.
//
// The audit trail must hold no PHI, and it holds none by construction rather
// than by care. An Event has a fixed schema of plain strings, integers and
// one timestamp: no maps, no `any`, no byte slices, no nested free-form
// structs, so there is no field a caller could stuff a query string, a
// resource id, a patient name or an upstream body into. Every string field is
// filled from configuration (tenant, connection, connector, region, config
// hash), from a closed vocabulary (action, route template, error code), from
// Ferry itself (request and trace ids, client id, source IP) or is a keyed
// one-way reference (PatientRef). A reviewer can audit the whole schema on one
// screen, and a test (event_test.go) fails when a field is added without
// updating its allow-list, so widening the schema is always a conscious,
// reviewed change.
//
// The wire format is one compact JSON object per line with a stable,
// documented key order (see Fields), encoded by hand in Event.AppendJSON
// because it is faster than encoding/json and allocation-free, and because a
// byte-stable encoding is what the hash chain (seq, prev_hash) will be
// computed over.
//
// This first cut is synchronous: Emitter.Emit writes to the sink before it
// returns. The bounded in-memory delivery queue, the hash chain and signed
// checkpoints come later; events are never spooled to disk.
//
// auditlog imports only the standard library (and, later, aws-sdk-go-v2 for
// its AWS sinks). It must never import unified or connectors: keeping the
// resource model out of reach is part of what keeps PHI out of the trail.
package auditlog
