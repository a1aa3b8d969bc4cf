package connectors

import (
	"context"
	"net/url"
	"strings"
)

// Transport performs HTTP exchanges with the source of the connection a
// request belongs to. The host implements it: it resolves the connection's
// base URL, injects its credentials, enforces the egress policy, pacing and
// circuit breaker, and bounds the answer's size. A connector gives only a
// path relative to the base URL.
type Transport interface {
	Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error)
}

// Exchanger sends one message to the source of the connection a request
// belongs to and returns the source's answer: the host's message transport
// for sources that are not HTTP (MLLP for HL7 v2, an mllp:// or mllps://
// base URL). The host owns the framing, the socket, TLS, the deadline and
// the connection's limits, and bounds the answer's size; msg and the answer
// are unframed. A connector finds it on the request's Transport:
//
//	ex, ok := req.Transport.(connectors.Exchanger)
//
// The Transport a plugin gets always has the method; on a connection whose
// base URL is HTTP it fails with CodeUnsupported, as Do fails on an MLLP
// connection.
type Exchanger interface {
	Exchange(ctx context.Context, msg []byte) ([]byte, error)
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

// The rules below are the host transport's, published so that a connector's
// tests (sdktest) and the conformance kit hold a connector to exactly what
// the product will enforce. A request that breaks them fails in the host
// with CodeInternal: it is a connector bug, or an attack.

// ValidRelativePath reports whether p may be appended to a connection's base
// URL: not empty, at most 2048 bytes, no scheme, no host, no leading slash,
// no dot segment (also percent-encoded), no encoded slash or backslash, no
// query or fragment (use HTTPRequest.Query), no space, backslash or control
// byte.
func ValidRelativePath(p string) bool {
	if p == "" || len(p) > 2048 || p[0] == '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x21 || c == 0x7f || c == '\\' || c == '?' || c == '#' || c == ':' && !strings.Contains(p[:i], "/") {
			return false
		}
	}
	// Segment by segment, without allocating (the host checks every
	// source request's path, twice): a segment is decoded only when it
	// holds an escape.
	for rest := p; ; {
		seg, after, more := strings.Cut(rest, "/")
		dec := seg
		if strings.IndexByte(seg, '%') >= 0 {
			var err error
			if dec, err = url.PathUnescape(seg); err != nil {
				return false
			}
		}
		if dec == "." || dec == ".." || strings.ContainsAny(dec, "/\\") {
			return false
		}
		if !more {
			return true
		}
		rest = after
	}
}

// ReadMethod reports whether method may be used while serving a Read or a
// Search: GET or HEAD ("" means GET). Writes are refused during reads.
func ReadMethod(method string) bool {
	return method == "" || method == "GET" || method == "HEAD"
}

// requestHeaders are the headers a connector may set on a source request;
// the host drops any other (Authorization, Host, Cookie are its own).
var requestHeaders = []string{
	"accept", "content-type", "prefer", "if-none-match", "if-match", "if-modified-since", "accept-language",
	"if-none-exist", // FHIR's conditional create (writes)
}

// responseHeaders are the source's response headers the host passes back to
// the connector; Set-Cookie and auth challenges stay in the host.
var responseHeaders = []string{
	"content-type", "etag", "last-modified", "location", "retry-after",
	"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
	"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
}

// RequestHeaderAllowed reports whether the host passes a request header a
// connector sets on to the source (compared case-insensitively).
func RequestHeaderAllowed(name string) bool { return containsFold(requestHeaders, name) }

// ResponseHeaderAllowed reports whether the host passes a source response
// header back to the connector (compared case-insensitively).
func ResponseHeaderAllowed(name string) bool { return containsFold(responseHeaders, name) }

func containsFold(list []string, name string) bool {
	for _, h := range list {
		if equalFold(h, name) {
			return true
		}
	}
	return false
}
