package proxy

import (
	"bytes"

	"github.com/ferryhealth/ferry/unified"
)

// Route templates: the only form of a path that reaches metrics and audit.
const (
	routeRead         = "/v1/{connection_id}/{resource}/{id}"
	routeSearch       = "/v1/{connection_id}/{resource}"
	routeChanges      = "/v1/{connection_id}/{resource}/_changes"
	routeCapabilities = "/v1/{connection_id}/capabilities"
	routePassthrough  = "/v1/{connection_id}/passthrough/{path}"
	routeOpenAPI      = "/v1/openapi.json"
	// A write's template names its method: its path is a search's or a
	// read's.
	routeCreate  = "POST /v1/{connection_id}/{resource}"
	routeUpdate  = "PATCH /v1/{connection_id}/{resource}/{id}"
	routeUnknown = "unknown"
)

// route is what the path says, once parsed.
type route struct {
	template     string
	connectionID string
	resource     unified.ResourceType
	id           string
	// path is the passthrough path relative to the connection's base URL,
	// as the client wrote it (not normalised: the host transport refuses
	// dot segments rather than resolving them).
	path string
}

// public reports whether the route is served without authentication.
func (r route) public() bool { return r.template == routeOpenAPI }

// unified reports whether the route reads unified records.
func (r route) unified() bool {
	return r.template == routeRead || r.template == routeSearch || r.template == routeChanges
}

// write reports whether the route creates or updates a unified record.
func (r route) write() bool { return r.template == routeCreate || r.template == routeUpdate }

// parsePath splits the request path into a route. path is the normalised
// path (fasthttp's Path) and original the path as sent, from which a
// passthrough path is taken. It does not allocate for a path that does not
// match.
func parsePath(path, original []byte) (route, bool) {
	rest, ok := bytes.CutPrefix(path, []byte("/v1/"))
	if !ok {
		return route{}, false
	}
	if string(rest) == "openapi.json" {
		return route{template: routeOpenAPI}, true
	}
	parts := bytes.SplitN(rest, []byte("/"), 3)
	if len(parts) < 2 || len(parts[0]) == 0 || len(parts[1]) == 0 {
		return route{}, false
	}
	conn := string(parts[0])
	switch string(parts[1]) {
	case "passthrough":
		// The passthrough path comes from the original, so that
		// "a/../b" reaches the egress check as written instead of being
		// resolved into something else first.
		prefix := "/v1/" + conn + "/passthrough/"
		p, ok := bytes.CutPrefix(original, []byte(prefix))
		if !ok || len(p) == 0 {
			return route{}, false
		}
		if i := bytes.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return route{template: routePassthrough, connectionID: conn, path: string(p)}, true
	case "capabilities":
		if len(parts) == 2 {
			return route{template: routeCapabilities, connectionID: conn}, true
		}
		return route{}, false
	}
	switch {
	case len(parts) == 2:
		return route{template: routeSearch, connectionID: conn, resource: unified.ResourceType(parts[1])}, true
	case len(parts) == 3 && string(parts[2]) == "_changes":
		// FHIR ids cannot start with '_', so no record's read is shadowed
		// (a bare "changes" could be an id).
		return route{template: routeChanges, connectionID: conn, resource: unified.ResourceType(parts[1])}, true
	case len(parts) == 3 && len(parts[2]) > 0 && bytes.IndexByte(parts[2], '/') < 0:
		return route{template: routeRead, connectionID: conn, resource: unified.ResourceType(parts[1]), id: string(parts[2])}, true
	}
	return route{}, false
}

// validSourceID is FHIR's id rule ([A-Za-z0-9\-\.]{1,64}), which most
// sources' ids also satisfy. Checking it here keeps anything else out of
// the source URL.
func validSourceID(id string) bool { return unified.ValidID(id) }
