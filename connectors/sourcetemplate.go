package connectors

import (
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// A plugin is a process of its own: every source request it makes in-band
// costs two more crossings between the processes (the request out, the
// answer back) on top of the call and its result. Most reads and first
// search pages need exactly one source request whose shape the connector
// knows in advance, so a connector may describe it per connection in its
// ConfigureResponse; the host then makes that request itself, sends the
// answer along with the call, and the connector's first Transport.Do, if it
// asks for exactly that request, is answered with it at once. A call so
// costs one round trip between the processes instead of two.
//
// A template changes what the host does, never what the connector sees: the
// connector calls Transport.Do as always, and a request that differs from
// the template's in any way (method, path, query in order, headers) goes to
// the host in-band, as without a template. So a wrong template costs one
// wasted source request, not a wrong answer, and the conformance kit and
// sdktest report every call whose template missed. The host makes the
// request through the same transport, with the same egress rules, as the
// connector's own.

// SourceTemplate is, for one resource of one connection, the source request
// a read by id and the first page of a search begin with. A nil Read or
// Search leaves that operation's requests all in-band.
type SourceTemplate struct {
	Resource unified.ResourceType
	Read     *RequestTemplate
	Search   *RequestTemplate
}

// RequestTemplate is a GET request relative to the connection's base URL.
type RequestTemplate struct {
	// Path may hold "{id}" once, replaced on a read by the record id (which
	// the host has checked: 1 to 64 of [A-Za-z0-9.-]).
	Path   string
	Header []Param
	// Query is the query string in order; a parameter whose filter the
	// search does not have is left out.
	Query []QueryTemplate
}

// QueryTemplate is one query parameter: a fixed value, the page size, or
// the value of one filter.
type QueryTemplate struct {
	Name string
	// Value is the fixed value; with Filter set, the text written before
	// the filter's encoded value (a FHIR prefix such as "ge").
	Value string
	// Filter names the search parameter whose value this is. A search that
	// has a parameter no QueryTemplate names is not prefetched.
	Filter   string
	Encoding ValueEncoding
	// Limit makes the value the search's page size.
	Limit bool
}

// ValueEncoding is how a filter's value is written into a query value.
type ValueEncoding int

// The value encodings.
const (
	// EncodeVerbatim writes the value as the client sent it (after the
	// host's normalisation of standard filters).
	EncodeVerbatim ValueEncoding = iota
	// EncodeFHIRString writes one FHIR search value: '\', ',', '$' and '|'
	// are escaped with '\'.
	EncodeFHIRString
	// EncodeFHIRToken writes a FHIR token, "code" or "system|code", each
	// side escaped as EncodeFHIRString does.
	EncodeFHIRToken
)

// Prefetched is a source exchange the host made before a call, from the
// connection's template: the request and the source's answer.
type Prefetched struct {
	Request  *HTTPRequest
	Response *HTTPResponse
}

// ReadRequest returns the source request of a read of id, and false when
// the template cannot make it.
func (t *RequestTemplate) ReadRequest(id string) (*HTTPRequest, bool) {
	if t == nil || !unified.ValidID(id) || strings.Count(t.Path, "{id}") > 1 {
		return nil, false
	}
	req := &HTTPRequest{Method: "GET", Path: strings.Replace(t.Path, "{id}", id, 1), Header: t.Header}
	for _, q := range t.Query {
		if q.Filter != "" || q.Limit {
			// A read has neither filters nor a page size.
			return nil, false
		}
		req.Query = append(req.Query, Param{Name: q.Name, Value: q.Value})
	}
	return req, true
}

// SearchRequest returns the source request of the first page of a search
// with params and limit, and false when the template cannot make it: a
// parameter that no QueryTemplate names.
func (t *RequestTemplate) SearchRequest(params map[string]string, limit int) (*HTTPRequest, bool) {
	if t == nil || strings.Contains(t.Path, "{id}") {
		return nil, false
	}
	if !allNamed(t.Query, params) {
		return nil, false
	}
	req := &HTTPRequest{Method: "GET", Path: t.Path, Header: t.Header, Query: make([]Param, 0, len(t.Query))}
	for _, q := range t.Query {
		switch {
		case q.Limit:
			req.Query = append(req.Query, Param{Name: q.Name, Value: strconv.Itoa(limit)})
		case q.Filter != "":
			v, ok := params[q.Filter]
			if !ok || v == "" {
				continue
			}
			req.Query = append(req.Query, Param{Name: q.Name, Value: q.Value + q.Encoding.encode(v)})
		default:
			req.Query = append(req.Query, Param{Name: q.Name, Value: q.Value})
		}
	}
	return req, true
}

// allNamed reports whether every parameter is the filter of some query
// template (a filter may feed more than one: a date range).
func allNamed(qs []QueryTemplate, params map[string]string) bool {
	for name := range params {
		found := false
		for _, q := range qs {
			if q.Filter == name {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (e ValueEncoding) encode(v string) string {
	switch e {
	case EncodeFHIRString:
		return EscapeFHIRSearch(v)
	case EncodeFHIRToken:
		if sys, code, ok := strings.Cut(v, "|"); ok {
			return EscapeFHIRSearch(sys) + "|" + EscapeFHIRSearch(code)
		}
		return EscapeFHIRSearch(v)
	}
	return v
}

// EscapeFHIRSearch escapes the characters that FHIR search gives a meaning
// inside a value: ',' separates alternatives, '|' a token's system from its
// code, '$' a composite's parts, and '\' escapes. A client's "Smith, John"
// is one name, not a search for Smith or John.
func EscapeFHIRSearch(v string) string {
	if !strings.ContainsAny(v, `\,$|`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\', ',', '$', '|':
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Template returns the connection's template for resource, or nil.
func (r *ConfigureResponse) Template(resource unified.ResourceType) *SourceTemplate {
	if r == nil {
		return nil
	}
	return TemplateFor(r.Templates, resource)
}

// TemplateFor returns the template of resource among ts, or nil.
func TemplateFor(ts []SourceTemplate, resource unified.ResourceType) *SourceTemplate {
	for i := range ts {
		if ts[i].Resource == resource {
			return &ts[i]
		}
	}
	return nil
}
