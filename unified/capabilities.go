package unified

// Capabilities is the answer of GET /v1/{connection_id}/capabilities: what
// this connection's connector can do, so a client can build its queries
// before it sends one.
type Capabilities struct {
	// ConnectionID is the connection described: the {connection_id} of the
	// request path.
	ConnectionID string `json:"connection_id"`
	// Connector names the connector kind ("fhir", "hl7v2") and version.
	Connector ConnectorInfo `json:"connector"`
	// Resources are the resources the connection offers, each with its
	// operations and filters. A resource not listed is not offered: a
	// request for it is answered with the problem code `unsupported`.
	Resources []ResourceCapabilities `json:"resources"`
	// Passthrough says whether this client may use
	// /v1/{connection_id}/passthrough/{path}.
	Passthrough bool `json:"passthrough"`
	// Write says whether this client may create and update records (its
	// write scope); which resources can be written is per resource.
	Write bool `json:"write"`
}

// ConnectorInfo identifies a connector.
type ConnectorInfo struct {
	// Kind is the connector kind, such as "fhir".
	Kind string `json:"kind"`
	// Version is the connector's own version, for operators and support;
	// it is not the API's version.
	Version string `json:"version"`
}

// ResourceCapabilities is what a connection offers for one resource.
type ResourceCapabilities struct {
	// Resource is the resource described, as named in API paths.
	Resource ResourceType `json:"resource"`
	// Read says whether one record can be read by id, with
	// GET /v1/{connection_id}/{resource}/{id}.
	Read bool `json:"read"`
	// Search says whether the resource can be searched, with
	// GET /v1/{connection_id}/{resource}.
	Search bool `json:"search"`
	// Create says whether records can be created, with
	// POST /v1/{connection_id}/{resource} (docs/writes.md).
	Create bool `json:"create"`
	// Update says whether records' fields can be changed, with
	// PATCH /v1/{connection_id}/{resource}/{id}.
	Update bool `json:"update"`
	// Filters are the search filters accepted, beyond limit, cursor,
	// fields and raw, which every search accepts.
	Filters []FilterCapability `json:"filters,omitempty"`
}

// FilterCapability is one search filter a resource accepts.
type FilterCapability struct {
	// Name is the filter's query parameter: a standard filter (patient_id,
	// date_gte, code …) or one of the connector's own (a patient's name).
	Name string `json:"name"`
	// Kind is id | date | token | string (see the API reference).
	Kind FilterKind `json:"kind"`
	// Required filters must be present on every search of the resource.
	Required bool `json:"required,omitempty"`
	// Description explains a standard filter; absent for a connector's own
	// filters.
	Description string `json:"description,omitempty"`
}
