package connectors

import (
	"context"
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

// ProtocolVersion is the major version of the host–plugin wire protocol
// (package ferry.connector.v2). It is the go-plugin handshake's protocol
// version, so a host and a plugin of different majors refuse each other at
// start rather than misreading each other's messages.
//
// Version 2 carries every call on the data plane (frames on a socket the
// host hands the plugin) instead of version 1's gRPC calls and stream, and
// lets a connection describe its first source request (SourceTemplate).
const ProtocolVersion = 2

// Connector is implemented by every connector. Methods must be safe for
// concurrent use: one connector value serves many connections and many
// requests at once.
type Connector interface {
	// Metadata describes what the connector can do. The host calls it at
	// start and builds routing and validation from it.
	Metadata(ctx context.Context, req *MetadataRequest) (*MetadataResponse, error)
	// Configure is called once per connection that uses this connector,
	// before any request for it, and again after a plugin restart.
	Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error)
	// Read fetches one record by its source id.
	Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error)
	// Search fetches one page of records matching the request's filters.
	Search(ctx context.Context, req *SearchRequest) (*SearchResponse, error)
}

// MetadataRequest is empty today; it exists so fields can be added.
type MetadataRequest struct{}

// MetadataResponse is the connector's capability manifest.
type MetadataResponse struct {
	Kind      string // the connector kind, e.g. "fhir"; matches the plugin catalog entry
	Version   string // the connector's own version, for operators
	Resources []ResourceCapability
	// AuthKinds lists the outbound auth kinds the connector's sources are
	// expected to use (informational; the host applies auth).
	AuthKinds []string
}

// Resource returns the capability of resource r, if the connector offers it.
func (m *MetadataResponse) Resource(r unified.ResourceType) (ResourceCapability, bool) {
	for _, c := range m.Resources {
		if c.Resource == r {
			return c, true
		}
	}
	return ResourceCapability{}, false
}

// ResourceCapability says which operations and search parameters a
// connector offers for one unified resource.
type ResourceCapability struct {
	Resource unified.ResourceType
	Read     bool
	Search   bool
	// SearchParams are the filters accepted on search, beyond the
	// reserved limit, cursor, fields and raw: standard filters
	// (unified.StandardFilters, whose values the host checks) and the
	// connector's own (kind string, checked by the connector).
	SearchParams []string
	// RequiredParams are search parameters that must all be present; a
	// search without one is refused by the host with 400 naming it.
	// Sources that refuse unbounded searches (most EHRs want a patient)
	// declare it here so the client learns it before any source call.
	RequiredParams []string
	// Create and Update say the connector writes this resource (it
	// implements Writer): POST and PATCH through the unified API.
	Create bool
	Update bool
}

// Requires reports whether name is a required search parameter.
func (c ResourceCapability) Requires(name string) bool {
	for _, p := range c.RequiredParams {
		if p == name {
			return true
		}
	}
	return false
}

// Accepts reports whether name is one of the resource's search parameters.
// A scan, not a map: manifests list a handful, and the host asks on every
// request.
func (c ResourceCapability) Accepts(name string) bool {
	for _, p := range c.SearchParams {
		if p == name {
			return true
		}
	}
	return false
}

// ConfigureRequest carries a connection's non-secret connector settings.
type ConfigureRequest struct {
	ConnectionID string
	// Settings is the connection's `settings` object from the config, raw;
	// the connector decodes and validates it.
	Settings json.RawMessage
}

// ConfigureResponse may describe the connection's usual source requests.
type ConfigureResponse struct {
	// Templates are, per resource, the first source request of a read and
	// of a search's first page on this connection (see SourceTemplate):
	// optional, and only a matter of speed.
	Templates []SourceTemplate
}

// ReadRequest asks for one record.
type ReadRequest struct {
	ConnectionID string
	Resource     unified.ResourceType
	ID           string // the source's logical id; the host has checked it is 1–64 of [A-Za-z0-9.-]
	Raw          bool   // include the untouched source record under `raw`
	// Transport is the only way to the connection's source.
	Transport Transport
}

// ReadResponse holds one unified object, encoded as JSON.
type ReadResponse struct {
	Record json.RawMessage
	// Version is the record's version at the source (FHIR
	// meta.versionId), which the host shows as the answer's ETag; empty
	// when the source keeps none.
	Version string

	frame *frameBuf // the data-plane frame Record is a slice of, or nil
}

// Release hands the response's memory back to the layer that made it (the
// host's end of the data plane reads a plugin's records into pooled
// buffers); the record must not be used afterwards. Calling it is optional,
// and it does nothing on a response a connector made itself.
func (r *ReadResponse) Release() {
	if r != nil {
		r.frame.release()
		r.frame = nil
	}
}

// MaxSearchLimit bounds SearchRequest.Limit and the records of one
// SearchResponse.
const MaxSearchLimit = 500

// SearchRequest asks for one page of records.
type SearchRequest struct {
	ConnectionID string
	Resource     unified.ResourceType
	// Params holds the search parameters the client gave, only ones the
	// manifest declares for this resource.
	Params map[string]string
	// Limit is the page size, 1..MaxSearchLimit: a client's page is at most
	// unified.MaxLimit, a change-feed poll asks for its page plus the
	// records it already returned at its watermark (the host skips those).
	Limit int
	// PageToken is the NextPageToken of the previous page, or empty for
	// the first page.
	PageToken string
	Raw       bool
	Transport Transport
}

// SearchResponse holds one page of unified objects, each encoded as JSON.
type SearchResponse struct {
	Records []json.RawMessage
	// NextPageToken is the connector's opaque state for the next page (a
	// source next link, an offset); empty when this is the last page. The
	// host seals it into the client's cursor.
	NextPageToken string

	frame *frameBuf // the data-plane frame Records are slices of, or nil
}

// Release is ReadResponse.Release for a page of records.
func (r *SearchResponse) Release() {
	if r != nil {
		r.frame.release()
		r.frame = nil
	}
}
