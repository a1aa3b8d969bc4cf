package sandbox

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Prefix is the path under which the handler serves the FHIR API; a client's
// base URL is the server's address followed by it.
const Prefix = "/fhir/R4"

const (
	defaultCount = 20
	maxCount     = 200
	contentType  = "application/fhir+json; charset=utf-8"
)

//go:embed data/patients.json
var patientsJSON []byte

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
	opts     Options
	patients []patient
	byID     map[string]*patient
}

// patient is one embedded Patient: its untouched JSON, and what search
// matches on, normalised once.
type patient struct {
	raw         json.RawMessage
	id          string
	nameParts   []string // given and family names, folded
	birthDate   string
	identifiers []identifier
}

type identifier struct{ system, value string }

// loadPatients parses the embedded data once per process; the result is
// shared, read-only, by every Server.
var loadPatients = sync.OnceValue(func() []patient {
	var raws []json.RawMessage
	if err := json.Unmarshal(patientsJSON, &raws); err != nil {
		// The data is compiled in, and a test parses it: this is a broken
		// build, not a runtime condition.
		panic("sandbox: embedded patients.json: " + err.Error())
	}
	out := make([]patient, 0, len(raws))
	for _, raw := range raws {
		var r struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			BirthDate    string `json:"birthDate"`
			Name         []struct {
				Family string   `json:"family"`
				Given  []string `json:"given"`
			} `json:"name"`
			Identifier []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		}
		if err := json.Unmarshal(raw, &r); err != nil || r.ResourceType != "Patient" || r.ID == "" {
			panic("sandbox: embedded patients.json holds something that is not a Patient with an id")
		}
		p := patient{raw: raw, id: r.ID, birthDate: r.BirthDate}
		for _, n := range r.Name {
			if n.Family != "" {
				p.nameParts = append(p.nameParts, fold(n.Family))
			}
			for _, g := range n.Given {
				p.nameParts = append(p.nameParts, fold(g))
			}
		}
		for _, id := range r.Identifier {
			p.identifiers = append(p.identifiers, identifier{id.System, id.Value})
		}
		out = append(out, p)
	}
	return out
})

// New returns a sandbox server over the embedded patients.
func New(opts Options) *Server {
	s := &Server{opts: opts, patients: loadPatients()}
	s.byID = make(map[string]*patient, len(s.patients))
	for i := range s.patients {
		s.byID[s.patients[i].id] = &s.patients[i]
	}
	return s
}

// PatientIDs returns the ids of the sandbox's patients, in the order a search
// returns them.
func (s *Server) PatientIDs() []string {
	ids := make([]string, len(s.patients))
	for i := range s.patients {
		ids[i] = s.patients[i].id
	}
	return ids
}

// Handler returns the HTTP handler of the FHIR API, serving under Prefix.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"/")
	if !ok {
		writeOutcome(w, http.StatusNotFound, "not-found", "No such endpoint.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "The sandbox is read-only.")
		return
	}
	// The CapabilityStatement is open, as SMART on FHIR expects, so a
	// client can discover the server before it has a token.
	if rest == "metadata" {
		s.metadata(w, r)
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ferry-sandbox"`)
		writeOutcome(w, http.StatusUnauthorized, "login", "A valid bearer token is required.")
		return
	}
	switch {
	case rest == "Patient":
		s.search(w, r)
	case strings.HasPrefix(rest, "Patient/") && !strings.Contains(rest[len("Patient/"):], "/"):
		s.read(w, rest[len("Patient/"):])
	default:
		writeOutcome(w, http.StatusNotFound, "not-found", "No such endpoint.")
	}
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.RequireBearer == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.RequireBearer)) == 1
}

func (s *Server) read(w http.ResponseWriter, id string) {
	p, ok := s.byID[id]
	if !ok {
		// Real servers name the id in the diagnostics; the sandbox does not,
		// so that nothing a client sent is echoed back.
		writeOutcome(w, http.StatusNotFound, "not-found", "No such Patient.")
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(p.raw)
}

// search serves a Patient search as a searchset Bundle.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeOutcome(w, http.StatusBadRequest, "invalid", "The query string is malformed.")
		return
	}
	count, offset := defaultCount, 0
	if v := q["_count"]; len(v) > 0 {
		n, err := strconv.Atoi(v[len(v)-1])
		if err != nil || n < 0 {
			writeOutcome(w, http.StatusBadRequest, "invalid", "_count must be a non-negative integer.")
			return
		}
		count = min(n, maxCount)
	}
	if v := q["_offset"]; len(v) > 0 {
		n, err := strconv.Atoi(v[len(v)-1])
		if err != nil || n < 0 {
			writeOutcome(w, http.StatusBadRequest, "invalid", "_offset must be a non-negative integer.")
			return
		}
		offset = n
	}
	f, problem := parseFilter(q)
	if problem != "" {
		writeOutcome(w, http.StatusBadRequest, "invalid", problem)
		return
	}

	var matches []*patient
	for i := range s.patients {
		if f.match(&s.patients[i]) {
			matches = append(matches, &s.patients[i])
		}
	}
	base := baseURL(r)
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: len(matches), Entry: []entry{}}
	b.Link = append(b.Link, link{Relation: "self", URL: base + "/Patient?" + f.query(count, offset)})
	end := min(offset+count, len(matches))
	if offset < end {
		for _, p := range matches[offset:end] {
			b.Entry = append(b.Entry, entry{FullURL: base + "/Patient/" + p.id, Resource: p.raw, Search: search{Mode: "match"}})
		}
	}
	if !s.opts.OmitNextLinks && count > 0 && end < len(matches) {
		b.Link = append(b.Link, link{Relation: "next", URL: base + "/Patient?" + f.query(count, end)})
	}
	writeJSON(w, http.StatusOK, b)
}

// filter is a parsed Patient search. Each inner slice is one occurrence of
// the parameter, whose comma-separated values are alternatives.
type filter struct {
	names       [][]string
	birthDates  [][]string
	identifiers [][]identifier
	raw         url.Values // the filter parameters as given, for the links
}

func parseFilter(q url.Values) (filter, string) {
	f := filter{raw: url.Values{}}
	for _, v := range q["name"] {
		f.names = append(f.names, splitFold(v))
		f.raw.Add("name", v)
	}
	for _, v := range q["birthdate"] {
		var alts []string
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimPrefix(d, "eq")
			if !validPartialDate(d) {
				return filter{}, "birthdate must be YYYY, YYYY-MM or YYYY-MM-DD, optionally after eq."
			}
			alts = append(alts, d)
		}
		f.birthDates = append(f.birthDates, alts)
		f.raw.Add("birthdate", v)
	}
	for _, v := range q["identifier"] {
		var alts []identifier
		for _, t := range splitEscaped(v, ',') {
			switch parts := splitEscaped(t, '|'); len(parts) {
			case 1:
				// No separator: any system. A marker keeps that apart from
				// "|value", which means no system at all.
				alts = append(alts, identifier{system: anySystem, value: unescape(parts[0])})
			case 2:
				alts = append(alts, identifier{system: unescape(parts[0]), value: unescape(parts[1])})
			default:
				return filter{}, "identifier must be value or system|value."
			}
		}
		f.identifiers = append(f.identifiers, alts)
		f.raw.Add("identifier", v)
	}
	return f, ""
}

// anySystem marks an identifier search without a system part. It cannot be
// a real system: those are URIs.
const anySystem = "\x00any"

func (f *filter) match(p *patient) bool {
	for _, alts := range f.names {
		if !anyOf(alts, func(prefix string) bool {
			for _, part := range p.nameParts {
				if strings.HasPrefix(part, prefix) {
					return true
				}
			}
			return false
		}) {
			return false
		}
	}
	for _, alts := range f.birthDates {
		if !anyOf(alts, func(d string) bool { return strings.HasPrefix(p.birthDate, d) }) {
			return false
		}
	}
	for _, alts := range f.identifiers {
		if !anyOf(alts, func(want identifier) bool {
			for _, id := range p.identifiers {
				if (want.system == anySystem || want.system == id.system) && (want.value == "" || want.value == id.value) {
					return true
				}
			}
			return false
		}) {
			return false
		}
	}
	return true
}

func anyOf[T any](alts []T, ok func(T) bool) bool {
	for _, a := range alts {
		if ok(a) {
			return true
		}
	}
	return false
}

// query is the query string of a self or next link: the filter as given,
// then the page, in a fixed order so links are stable.
func (f *filter) query(count, offset int) string {
	var b strings.Builder
	for _, name := range []string{"name", "birthdate", "identifier"} {
		for _, v := range f.raw[name] {
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
			b.WriteByte('&')
		}
	}
	b.WriteString("_count=")
	b.WriteString(strconv.Itoa(count))
	if offset > 0 {
		b.WriteString("&_offset=")
		b.WriteString(strconv.Itoa(offset))
	}
	return b.String()
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

func splitFold(v string) []string {
	var out []string
	for _, s := range splitEscaped(v, ',') {
		out = append(out, fold(unescape(s)))
	}
	return out
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
			"mode": "server",
			"resource": []any{map[string]any{
				"type":        "Patient",
				"interaction": []any{map[string]string{"code": "read"}, map[string]string{"code": "search-type"}},
				"searchParam": []any{
					map[string]string{"name": "name", "type": "string"},
					map[string]string{"name": "birthdate", "type": "date"},
					map[string]string{"name": "identifier", "type": "token"},
				},
			}},
		}},
	})
}

type bundle struct {
	ResourceType string  `json:"resourceType"`
	Type         string  `json:"type"`
	Total        int     `json:"total"`
	Link         []link  `json:"link"`
	Entry        []entry `json:"entry"`
}

type link struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type entry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   search          `json:"search"`
}

type search struct {
	Mode string `json:"mode"`
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
	body, err := json.Marshal(v)
	if err != nil {
		// Only the sandbox's own types are encoded here; a failure is a bug.
		http.Error(w, "sandbox: cannot encode answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}
