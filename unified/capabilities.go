package unified

// Capabilities is the answer of GET /v1/{connection_id}/capabilities: what
// this connection's connector can do, so a client can build its queries
// before it sends one.
type Capabilities struct {
	ConnectionID string `json:"connection_id"`
	// Connector names the connector kind ("fhir", "hl7v2") and version.
	Connector ConnectorInfo          `json:"connector"`
	Resources []ResourceCapabilities `json:"resources"`
	// Passthrough says whether this client may use
	// /v1/{connection_id}/passthrough/{path}.
	Passthrough bool `json:"passthrough"`
}

// ConnectorInfo identifies a connector.
type ConnectorInfo struct {
	Kind    string `json:"kind"`
	Version string `json:"version"`
}

// ResourceCapabilities is what a connection offers for one resource.
type ResourceCapabilities struct {
	Resource ResourceType `json:"resource"`
	Read     bool         `json:"read"`
	Search   bool         `json:"search"`
	// Filters are the search filters accepted, beyond limit, cursor,
	// fields and raw, which every search accepts.
	Filters []FilterCapability `json:"filters,omitempty"`
}

// FilterCapability is one search filter a resource accepts.
type FilterCapability struct {
	Name string `json:"name"`
	// Kind is id | date | token | string (see the API reference).
	Kind FilterKind `json:"kind"`
	// Required filters must be present on every search of the resource.
	Required    bool   `json:"required,omitempty"`
	Description string `json:"description,omitempty"`
}
