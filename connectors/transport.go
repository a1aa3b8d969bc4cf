package connectors

import "context"

// Transport performs HTTP exchanges with the source of the connection a
// request belongs to. The host implements it: it resolves the connection's
// base URL, injects its credentials, enforces the egress policy, pacing and
// circuit breaker, and bounds the answer's size. A connector gives only a
// path relative to the base URL.
type Transport interface {
	Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error)
}

// HTTPRequest is one request to the source.
type HTTPRequest struct {
	Method string // GET when empty
	// Path is relative to the connection's base URL ("Patient/123"). An
	// absolute URL, a scheme, a host or a dot segment is refused.
	Path   string
	Query  []Param // in order; repeated names allowed
	Header []Param // only non-hop-by-hop, non-auth headers are passed on
	Body   []byte
}

// HTTPResponse is the source's answer. Body is bounded by the host's
// configured maximum.
type HTTPResponse struct {
	Status int
	Header []Param
	Body   []byte
}

// Param is one name/value pair of a query string or header list.
type Param struct {
	Name, Value string
}

// HeaderValue returns the first value of the named header, compared
// case-insensitively, or "".
func (r *HTTPResponse) HeaderValue(name string) string {
	for _, h := range r.Header {
		if equalFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}
