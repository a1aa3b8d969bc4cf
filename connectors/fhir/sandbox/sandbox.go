package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Prefix is the path under which the handler serves the FHIR API; a client's
// base URL is the server's address followed by it.
const Prefix = "/fhir/R4"

const (
	defaultCount = 20
	maxCount     = 200
	contentType  = "application/fhir+json; charset=utf-8"
)

// Options configure a sandbox server.
type Options struct {
	// RequireBearer, when not empty, is the token every request except
	// metadata must carry as "Authorization: Bearer <token>"; a request
	// without it is answered 401. Empty (the default) requires nothing.
	RequireBearer string
	// OmitNextLinks leaves the next link out of searchset Bundles, as some
	// servers (Medplum) do, so a client must page with _offset. The default
	// is to send it.
	OmitNextLinks bool
}

// Server is a sandbox FHIR source. It is safe for concurrent use.
type Server struct {
	opts  Options
	store *store
	// writes are the resources clients created or updated, in memory
	// only (writes.go).
	writes overlay
}

// New returns a sandbox server over the embedded data. The data is parsed
// by the first call only; every server shares it.
func New(opts Options) *Server {
	return &Server{opts: opts, store: loadStore()}
}

// PatientIDs returns the ids of the sandbox's patients, in the order a search
// returns them.
func (s *Server) PatientIDs() []string { return s.store.ids("Patient") }

// RecordPatientIDs returns the ids of the patients whose whole record is
// embedded (encounters, observations, conditions, …), in the order a
// Patient search returns them. The other patients have only their Patient
// resource.
func (s *Server) RecordPatientIDs() []string { return slices.Clone(s.store.recordPatients) }

// ResourceTypes returns the FHIR resource types the sandbox serves, sorted.
func (s *Server) ResourceTypes() []string { return servedTypes() }

// IDs returns the ids of the resources of a type, in the order a search
// returns them; none for a type the sandbox does not serve.
func (s *Server) IDs(resourceType string) []string { return s.store.ids(resourceType) }

// Handler returns the HTTP handler of the FHIR API, serving under Prefix.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"/")
	if !ok {
		writeOutcome(w, http.StatusNotFound, "not-found", "No such endpoint.")
		return
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		s.write(w, r, rest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT")
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "Not supported.")
		return
	}
	// The CapabilityStatement is open, as SMART on FHIR expects, so a
	// client can discover the server before it has a token.
	if rest == "metadata" {
		s.metadata(w, r)
		return
	}
	if !s.authorized(r) {
		unauthorized(w)
		return
	}
	typ, id, isRead := strings.Cut(rest, "/")
	rt := resourceTypes[typ]
	switch {
	case rt == nil || isRead && (id == "" || strings.Contains(id, "/")):
		writeOutcome(w, http.StatusNotFound, "not-found", "No such endpoint.")
	case isRead:
		s.read(w, typ, id)
	default:
		s.search(w, r, typ, rt)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.RequireBearer == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.RequireBearer)) == 1
}

// search serves a search as a searchset Bundle: the page of matches, then
// the resources they include.
func (s *Server) search(w http.ResponseWriter, r *http.Request, typ string, rt *resourceType) {
	q, problem := parseQuery(rt, r.URL.RawQuery)
	if problem != "" {
		writeOutcome(w, http.StatusBadRequest, "invalid", problem)
		return
	}
	var matches []*resource
	for _, res := range s.resources(typ) {
		if q.matches(res) {
			matches = append(matches, res)
		}
	}
	if q.byUpdated {
		slices.SortStableFunc(matches, func(a, b *resource) int {
			return lastUpdated(a).Compare(lastUpdated(b))
		})
	}
	base := baseURL(r)
	b := bundle{Total: len(matches)}
	b.Link = append(b.Link, link{Relation: "self", URL: base + "/" + typ + "?" + q.linkQuery(q.offset)})
	end := min(q.offset+q.count, len(matches))
	var page []*resource
	if q.offset < end {
		page = matches[q.offset:end]
	}
	for _, res := range page {
		b.Entry = append(b.Entry, entry{FullURL: base + "/" + res.typ + "/" + res.id, Resource: res.raw, Mode: "match"})
	}
	seen := map[*resource]bool{}
	for _, path := range q.include {
		for _, res := range page {
			for _, ref := range res.refs[path] {
				inc := s.lookup(ref)
				if inc == nil || seen[inc] {
					continue
				}
				seen[inc] = true
				b.Entry = append(b.Entry, entry{FullURL: base + "/" + inc.typ + "/" + inc.id, Resource: inc.raw, Mode: "include"})
			}
		}
	}
	if !s.opts.OmitNextLinks && q.count > 0 && end < len(matches) {
		b.Link = append(b.Link, link{Relation: "next", URL: base + "/" + typ + "?" + q.linkQuery(end)})
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b.encode())
}

// baseURL is the server's base URL as the client reached it. FHIR links are
// absolute, and the sandbox does not know its own address, so it takes the
// request's Host, as servers behind a proxy usually do.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	return scheme + "://" + host + Prefix
}

func validPartialDate(d string) bool {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	switch len(d) {
	case 4:
		return digits(d)
	case 7:
		return digits(d[:4]) && d[4] == '-' && digits(d[5:])
	case 10:
		return digits(d[:4]) && d[4] == '-' && digits(d[5:7]) && d[7] == '-' && digits(d[8:])
	}
	return false
}

// splitEscaped splits a search value at each sep that is not escaped with a
// backslash, as FHIR search escapes ',', '|', '$' and '\' inside values. The
// parts keep their escapes, for a split at another separator.
func splitEscaped(v string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case sep:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// unescape removes the backslash escapes of a search value.
func unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// fold normalises a name for matching as FHIR string search does: case
// and accents are ignored. Only Latin-1 accents are folded, which covers the
// embedded data without pulling in Unicode normalisation tables.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if f, ok := accentFold[r]; ok {
			return f
		}
		return r
	}, strings.ToLower(s))
}

var accentFold = func() map[rune]rune {
	m := map[rune]rune{}
	for base, accented := range map[rune]string{
		'a': "àáâãäå", 'c': "ç", 'e': "èéêë", 'i': "ìíîï", 'n': "ñ",
		'o': "òóôõöø", 'u': "ùúûü", 'y': "ýÿ",
	} {
		for _, r := range accented {
			m[r] = base
		}
	}
	return m
}()

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	var resources []any
	for _, typ := range servedTypes() {
		rt := resourceTypes[typ]
		var params []any
		for _, name := range rt.paramNames() {
			p, _ := rt.lookup(name)
			params = append(params, map[string]string{"name": name, "type": paramTypeNames[p.typ]})
		}
		res := map[string]any{
			"type":        typ,
			"interaction": []any{map[string]string{"code": "read"}, map[string]string{"code": "search-type"}},
			"searchParam": params,
		}
		if len(rt.includes) > 0 {
			var inc []string
			for v := range rt.includes {
				inc = append(inc, v)
			}
			slices.Sort(inc)
			res["searchInclude"] = inc
		}
		resources = append(resources, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-01-01",
		"kind":         "instance",
		"software":     map[string]any{"name": "Ferry FHIR sandbox"},
		"implementation": map[string]any{
			"description": "Synthetic patients for Ferry's demo and tests",
			"url":         baseURL(r),
		},
		"fhirVersion": "4.0.1",
		"format":      []string{"json"},
		"rest": []any{map[string]any{
			"mode":     "server",
			"resource": resources,
		}},
	})
}

// bundle is a searchset Bundle.
type bundle struct {
	Total int
	Link  []link
	Entry []entry
}

type link struct{ Relation, URL string }

type entry struct {
	FullURL  string
	Resource json.RawMessage
	Mode     string // search.mode: match or include
}

// encode writes the Bundle by hand. The resources are stored compact and
// valid, so they are copied as they are: encoding/json would validate and
// compact each one again, which was most of a search's cost.
func (b *bundle) encode() []byte {
	size := 256
	for _, e := range b.Entry {
		size += len(e.FullURL) + len(e.Resource) + 64
	}
	var buf bytes.Buffer
	buf.Grow(size)
	buf.WriteString(`{"resourceType":"Bundle","type":"searchset","total":`)
	buf.WriteString(strconv.Itoa(b.Total))
	buf.WriteString(`,"link":[`)
	for i, l := range b.Link {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"relation":`)
		writeString(&buf, l.Relation)
		buf.WriteString(`,"url":`)
		writeString(&buf, l.URL)
		buf.WriteByte('}')
	}
	buf.WriteString(`],"entry":[`)
	for i, e := range b.Entry {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"fullUrl":`)
		writeString(&buf, e.FullURL)
		buf.WriteString(`,"resource":`)
		buf.Write(e.Resource)
		buf.WriteString(`,"search":{"mode":`)
		writeString(&buf, e.Mode)
		buf.WriteString(`}}`)
	}
	buf.WriteString("]}\n")
	return buf.Bytes()
}

func writeOutcome(w http.ResponseWriter, status int, code, diagnostics string) {
	writeJSON(w, status, map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]string{
			"severity":    "error",
			"code":        code,
			"diagnostics": diagnostics,
		}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Resources keep their narrative's markup as it is: json.Marshal would
	// escape every < and > in it.
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the sandbox's own types are encoded here; a failure is a bug.
		http.Error(w, "sandbox: cannot encode answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body.Bytes())
}
