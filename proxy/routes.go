package proxy

import (
	"bytes"

	"github.com/ferryhealth/ferry/unified"
)

// Route templates: the only form of a path that reaches metrics and audit.
const (
	routeRead    = "/v1/{connection_id}/{resource}/{id}"
	routeSearch  = "/v1/{connection_id}/{resource}"
	routeUnknown = "unknown"
)

// route is what the path says, once parsed.
type route struct {
	template     string
	connectionID string
	resource     unified.ResourceType
	id           string
}

// parsePath splits /v1/{connection_id}/{resource}[/{id}]. It does not
// allocate for a path that does not match.
func parsePath(path []byte) (route, bool) {
	rest, ok := bytes.CutPrefix(path, []byte("/v1/"))
	if !ok {
		return route{}, false
	}
	parts := bytes.SplitN(rest, []byte("/"), 4)
	switch {
	case len(parts) == 2 && len(parts[0]) > 0 && len(parts[1]) > 0:
		return route{template: routeSearch, connectionID: string(parts[0]), resource: unified.ResourceType(parts[1])}, true
	case len(parts) == 3 && len(parts[0]) > 0 && len(parts[1]) > 0 && len(parts[2]) > 0:
		return route{template: routeRead, connectionID: string(parts[0]), resource: unified.ResourceType(parts[1]), id: string(parts[2])}, true
	}
	return route{}, false
}

// validSourceID is FHIR's id rule ([A-Za-z0-9\-\.]{1,64}), which most
// sources' ids also satisfy. Checking it here keeps anything else out of
// the source URL.
func validSourceID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return id != "." && id != ".."
}

// safeParamName reports whether a client-sent parameter name may be echoed
// in a problem detail: short and of a plain alphabet.
func safeParamName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
