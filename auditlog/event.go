package auditlog

import "time"

// The wire names of the Event fields. They are API: SIEM queries, Athena
// tables and `ferry audit verify` depend on them, so a name never changes
// meaning and is never reused. They are listed in wire order.
const (
	FieldTime              = "time"
	FieldRequestID         = "request_id"
	FieldTraceID           = "trace_id"
	FieldTenant            = "tenant"
	FieldActor             = "actor"
	FieldTokenIssuer       = "token_issuer"
	FieldTokenSubject      = "token_subject"
	FieldScopes            = "scopes"
	FieldSourceIP          = "source_ip"
	FieldPurposeOfUse      = "purpose_of_use"
	FieldBreakGlass        = "break_glass"
	FieldSecurityAlert     = "security_alert"
	FieldAction            = "action"
	FieldResourceType      = "resource_type"
	FieldRoute             = "route"
	FieldConnection        = "connection"
	FieldConnector         = "connector"
	FieldRegion            = "region"
	FieldStatus            = "status"
	FieldErrorCode         = "error_code"
	FieldAuthzRefusal      = "authz_refusal"
	FieldRecordCount       = "record_count"
	FieldLatencyProxyUS    = "latency_proxy_us"
	FieldLatencyUpstreamUS = "latency_upstream_us"
	FieldPatientRef        = "patient_ref"
	FieldRecordRef         = "record_ref"
	FieldConfigHash        = "config_hash"
	FieldChainID           = "chain_id"
	FieldSeq               = "seq"
	FieldPrevHash          = "prev_hash"
	FieldSig               = "sig"
)

// fields is the wire order, kept next to the constants so the two are read
// together; Fields hands out a copy so callers cannot reorder it.
var fields = [...]string{
	FieldTime, FieldRequestID, FieldTraceID, FieldTenant, FieldActor, FieldTokenIssuer,
	FieldTokenSubject, FieldScopes, FieldSourceIP, FieldPurposeOfUse, FieldBreakGlass,
	FieldSecurityAlert, FieldAction, FieldResourceType, FieldRoute, FieldConnection,
	FieldConnector, FieldRegion, FieldStatus, FieldErrorCode, FieldAuthzRefusal, FieldRecordCount,
	FieldLatencyProxyUS, FieldLatencyUpstreamUS, FieldPatientRef, FieldRecordRef, FieldConfigHash,
	FieldChainID, FieldSeq, FieldPrevHash, FieldSig,
}

// Fields returns every Event field name in the order Event.AppendJSON writes
// them, which is also the declaration order of Event. Tools that need a
// column list (a CSV header, an Athena table) should use it rather than
// hard-coding one.
func Fields() []string {
	out := make([]string, len(fields))
	copy(out, fields[:])
	return out
}

// The actions an Event can record. The set is closed and grows only with
// the operations the unified API offers, so a consumer can switch on it.
const (
	ActionRead         = "read"         // GET /v1/{connection_id}/{resource}/{id}
	ActionSearch       = "search"       // GET /v1/{connection_id}/{resource}
	ActionChanges      = "changes"      // GET /v1/{connection_id}/{resource}/_changes
	ActionPassthrough  = "passthrough"  // /v1/{connection_id}/passthrough/{path}
	ActionCapabilities = "capabilities" // GET /v1/{connection_id}/capabilities
	ActionCreate       = "create"       // POST /v1/{connection_id}/{resource}
	ActionUpdate       = "update"       // PATCH /v1/{connection_id}/{resource}/{id}
	ActionMetadata     = "metadata"     // GET /v1/openapi.json: no tenant data
	ActionRefused      = "refused"      // stopped before reaching a source (authn, authz, residency, limits)
	// ActionForward records, at a node outside the tenant's home region,
	// a request it relayed to the home region (whose node audits it again,
	// as served). The forwarding node reached none of the tenant's data.
	ActionForward = "forward"
	// ActionEventReceive records a message an inbound feed received
	// (docs/events.md): RequestID is the message's derived id, Status
	// what Ferry acknowledged (200 AA, 503 AE, 4xx AR), RecordCount the
	// events it gave.
	ActionEventReceive = "event_receive"
	// ActionEventDeliver records one delivery attempt of an event to a
	// webhook: RequestID is the webhook-id, Actor the subscribing client,
	// Route "webhook:" and the subscription id, ResourceType the event
	// type, Status the endpoint's HTTP status (0 for none).
	ActionEventDeliver = "event_deliver"
	// ActionCheckpoint marks a signed checkpoint: an event the Emitter adds
	// to a stream itself, not a request. See Emitter and docs/audit.md.
	ActionCheckpoint = "checkpoint"
)

// ErrorCodeAuditUnavailable is the problem code the proxy answers (503) when
// Admit refuses a request because the tenant's audit trail cannot take its
// event. It is kept here as a plain string, like Event.ErrorCode, so this
// package need not import unified; the Emitter recognises it (see Emit).
const ErrorCodeAuditUnavailable = "audit_unavailable"

// Event is one audited request. Its schema is fixed and PHI-free by
// construction (see the package doc); add a field only together with its
// Field constant, the allow-list in event_test.go and the golden file.
//
// Omission rule: a key is left out of the JSON only when its zero value
// means "not applicable" and can never be a real value, so that absence
// carries meaning ("this request had no tenant", "no source was called").
// Keys whose zero value is a real answer are always written: record_count 0
// means nothing was disclosed, and an auditor must see that, not guess it.
// The always-present keys are time, request_id, source_ip, action, route,
// region, status, record_count, latency_proxy_us, config_hash, chain_id, seq
// and prev_hash, so every event of a chain has the same shape; sig is
// written only on checkpoints.
//
// An Event holds only values, no pointers, maps or slices, so copying it
// (as the delivery queue will) never aliases caller state.
type Event struct {
	// Time is when the request finished. It is written in RFC 3339 with
	// nanoseconds, always in UTC, whatever location the value carries.
	Time time.Time `json:"time"`
	// RequestID is the id Ferry gave the request, also returned to the
	// client in problem+json, so a client complaint can be matched to it.
	RequestID string `json:"request_id"`
	// TraceID is the W3C trace id; absent when the request carried no trace
	// context and tracing is off.
	TraceID string `json:"trace_id,omitempty"`
	// Tenant is the tenant the request was served for; absent when the
	// request was refused before a tenant was known (for example a bad API
	// key).
	Tenant string `json:"tenant,omitempty"`
	// Actor is the authenticated client id (or API key fingerprint); absent
	// when authentication failed.
	Actor string `json:"actor,omitempty"`
	// TokenIssuer is the iss of the access token the client presented;
	// absent for an API key.
	TokenIssuer string `json:"token_issuer,omitempty"`
	// TokenSubject is the token's sub when it names the client itself (a
	// client credentials token); any other subject (a user, a patient) is
	// written as a keyed reference like PatientRef, never in clear.
	TokenSubject string `json:"token_subject,omitempty"`
	// Scopes are the token's SMART resource scopes, space-separated;
	// absent for an API key.
	Scopes string `json:"scopes,omitempty"`
	// SourceIP is the peer address as Ferry saw it (after trusted-proxy
	// handling); a request always has one.
	SourceIP string `json:"source_ip"`
	// PurposeOfUse is the purpose the client declared (for example
	// "TREATMENT"), from a closed vocabulary; absent when none was declared.
	PurposeOfUse string `json:"purpose_of_use,omitempty"`
	// BreakGlass says the client invoked break-glass (purpose of use BTG).
	BreakGlass bool `json:"break_glass,omitempty"`
	// SecurityAlert flags an event a SIEM should alert on: break-glass
	// access. Routine access never sets it.
	SecurityAlert bool `json:"security_alert,omitempty"`
	// Action is one of the Action constants.
	Action string `json:"action"`
	// ResourceType is the unified resource name (for example "patients");
	// absent when the request was refused before routing or names none.
	ResourceType string `json:"resource_type,omitempty"`
	// Route is the matched route template, for example
	// "/v1/{connection_id}/patients/{id}", never the concrete path, which
	// would carry resource ids. Unmatched requests use a fixed placeholder
	// chosen by the proxy.
	Route string `json:"route"`
	// Connection is the connection id from configuration; absent when the
	// request was refused before a connection was resolved.
	Connection string `json:"connection,omitempty"`
	// Connector is the connector kind serving the connection (for example
	// "fhir"); absent exactly when Connection is.
	Connector string `json:"connector,omitempty"`
	// Region is the region of the node that handled the request.
	Region string `json:"region"`
	// Status is the HTTP status answered to the client.
	Status int `json:"status"`
	// ErrorCode is the problem code answered (a unified.Code value, kept as
	// a plain string so this package need not import unified); absent on
	// success.
	ErrorCode string `json:"error_code,omitempty"`
	// AuthzRefusal is why authorization refused or narrowed the request:
	// scope, compartment, policy or purpose_of_use; absent when it did
	// not. An escape from a patient compartment answered like a missing
	// record is recorded here although its status is 404 or 200.
	AuthzRefusal string `json:"authz_refusal,omitempty"`
	// RecordCount is how many records the response disclosed; 0 is a real
	// answer and always written.
	RecordCount int `json:"record_count"`
	// LatencyProxyMicros is the time spent in Ferry itself, in microseconds.
	LatencyProxyMicros int64 `json:"latency_proxy_us"`
	// LatencyUpstreamMicros is the time spent waiting on the source, in
	// microseconds; absent when no source was called (a real call never
	// takes 0 µs).
	LatencyUpstreamMicros int64 `json:"latency_upstream_us,omitempty"`
	// PatientRef is PatientRef(key, tenant, connection, patient id) for the
	// patient the request was about; absent when it named no patient.
	PatientRef string `json:"patient_ref,omitempty"`
	// RecordRef is, for a create or an update, PatientRef(key, tenant,
	// connection, "{resource}/{id}") of the record written: the same keyed
	// one-way reference, so an investigator holding the key can tell which
	// record a write touched without the trail holding its id. Absent for
	// other actions and for a write that wrote nothing.
	RecordRef string `json:"record_ref,omitempty"`
	// ConfigHash identifies the configuration the node was running, so an
	// investigator can tell which policy allowed the request.
	ConfigHash string `json:"config_hash"`
	// ChainID names the hash chain (stream) the event belongs to: 32
	// random lowercase hex digits drawn when the Emitter starts a tenant's
	// stream, so two processes (a restart, a replica) never share a chain.
	// The Emitter sets it; "" only on an event that never went through one.
	ChainID string `json:"chain_id"`
	// Seq is the event's position in its chain: 1, 2, 3, ... with no gap.
	// The Emitter sets it; 0 means the event is not chained.
	Seq uint64 `json:"seq"`
	// PrevHash is "sha256:" and the lowercase hex SHA-256 of the previous
	// event's canonical line (AppendJSON, no newline); "" for seq 1. The
	// Emitter sets it.
	PrevHash string `json:"prev_hash"`
	// Sig is set on checkpoints only: "ed25519:", the key id (16 hex
	// digits), ":", and the unpadded base64url Ed25519 signature of the
	// checkpoint's own line without its sig member (see CheckpointMessage).
	// It is the last key on the wire so that member is easy to strip.
	Sig string `json:"sig,omitempty"`
}
