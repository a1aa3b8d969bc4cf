package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type testBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        int    `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		} `json:"resource"`
		Search struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func (b *testBundle) link(rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

func (b *testBundle) ids() []string {
	var ids []string
	for _, e := range b.Entry {
		ids = append(ids, e.Resource.ID)
	}
	return ids
}

// get serves one request in-process and returns the status and body.
func get(t *testing.T, h http.Handler, target string, header ...string) (int, []byte, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), rec.Header()
}

func searchBundle(t *testing.T, h http.Handler, target string) testBundle {
	t.Helper()
	status, body, hdr := get(t, h, target)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", target, status, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var b testBundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	if b.ResourceType != "Bundle" || b.Type != "searchset" {
		t.Fatalf("GET %s: not a searchset: %s %s", target, b.ResourceType, b.Type)
	}
	return b
}

func TestEmbeddedData(t *testing.T) {
	s := New(Options{})
	ids := s.PatientIDs()
	if len(ids) < 10 {
		t.Fatalf("%d patients, want at least 10", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("duplicate id %s", id)
		}
		seen[id] = true
	}
	// The ids are a copy: changing them must not change the server.
	ids[0] = "changed"
	if s.PatientIDs()[0] == "changed" {
		t.Error("PatientIDs returned the server's own slice")
	}
}

func TestRead(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	id := s.PatientIDs()[0]
	status, body, _ := get(t, h, Prefix+"/Patient/"+id)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	// The resource is served as it is stored.
	if !bytes.Equal(body, s.store.byRef["Patient/"+id].raw) {
		t.Error("body is not the embedded resource")
	}
	var p struct{ ResourceType, ID string }
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Patient" || p.ID != id {
		t.Errorf("got %+v, %v", p, err)
	}
}

func TestNotFound(t *testing.T) {
	h := New(Options{}).Handler()
	for _, target := range []string{
		Prefix + "/Patient/nope", Prefix + "/Observation/nope", Prefix + "/CarePlan", Prefix + "/CarePlan/nope",
		"/other", Prefix + "/Patient/a/b", Prefix + "/Patient/", Prefix + "/",
	} {
		status, body, _ := get(t, h, target)
		if status != http.StatusNotFound {
			t.Errorf("%s: status %d", target, status)
		}
		var oo struct {
			ResourceType string
			Issue        []struct{ Severity, Code string }
		}
		if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 || oo.Issue[0].Code != "not-found" {
			t.Errorf("%s: body %s", target, body)
		}
		if bytes.Contains(body, []byte("nope")) {
			t.Errorf("%s: the outcome echoes the request", target)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := New(Options{}).Handler()
	req := httptest.NewRequest(http.MethodDelete, Prefix+"/Patient/x", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
		t.Errorf("status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestMetadata(t *testing.T) {
	h := New(Options{RequireBearer: "secret"}).Handler()
	status, body, _ := get(t, h, Prefix+"/metadata")
	if status != http.StatusOK {
		t.Fatalf("status %d (metadata must not need the token)", status)
	}
	var cs struct {
		ResourceType string
		FhirVersion  string
		Rest         []struct {
			Resource []struct {
				Type          string
				SearchParam   []struct{ Name, Type string }
				SearchInclude []string
			}
		}
	}
	if err := json.Unmarshal(body, &cs); err != nil || cs.ResourceType != "CapabilityStatement" || cs.FhirVersion != "4.0.1" || len(cs.Rest) != 1 {
		t.Fatalf("got %+v, %v", cs, err)
	}
	// It lists every served type with its search parameters.
	var types []string
	for _, r := range cs.Rest[0].Resource {
		types = append(types, r.Type)
		rt := resourceTypes[r.Type]
		if rt == nil || len(r.SearchParam) != len(rt.params)+len(commonParams) || len(r.SearchInclude) != len(rt.includes) {
			t.Errorf("%s: %+v", r.Type, r)
		}
		for _, p := range r.SearchParam {
			if d, ok := rt.lookup(p.Name); !ok || paramTypeNames[d.typ] != p.Type {
				t.Errorf("%s: search parameter %+v", r.Type, p)
			}
		}
	}
	if !slices.Equal(types, New(Options{}).ResourceTypes()) {
		t.Errorf("types %v", types)
	}
}

func TestBearer(t *testing.T) {
	s := New(Options{RequireBearer: "secret"})
	h := s.Handler()
	target := Prefix + "/Patient/" + s.PatientIDs()[0]
	for _, auth := range []string{"", "Bearer wrong", "Basic c2VjcmV0", "bearer secret", "Bearer secretx"} {
		status, _, hdr := get(t, h, target, "Authorization", auth)
		if status != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d", auth, status)
		}
		if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: WWW-Authenticate %q", auth, hdr.Get("WWW-Authenticate"))
		}
	}
	if status, _, _ := get(t, h, target, "Authorization", "Bearer secret"); status != http.StatusOK {
		t.Errorf("right token: status %d", status)
	}
	if status, _, _ := get(t, h, Prefix+"/Patient", "Authorization", "Bearer wrong"); status != http.StatusUnauthorized {
		t.Errorf("search with a wrong token: status %d", status)
	}
}

func TestSearchFilters(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	ids := map[string]string{} // family name → id, to read the expectations
	for _, p := range s.store.byType["Patient"] {
		var r struct {
			Name []struct{ Family string }
		}
		json.Unmarshal(p.raw, &r)
		ids[r.Name[0].Family] = p.id
	}
	tests := []struct {
		query string
		want  []string // family names, in data order
	}{
		{"name=wolf", []string{"Wolf"}},
		{"name=WOL", []string{"Wolf"}},
		{"name=barry", []string{"Wolf"}},
		{"name=echevarria", []string{"Echevarría"}}, // accents are ignored
		{"name=jos%C3%A9", []string{"Casares"}},
		{"name=olf", nil}, // prefix, not substring
		{"name=wolf,berge", []string{"Wolf", "Berge"}},
		{"name=wolf&name=berge", nil}, // both must match
		{"birthdate=1913-01-13", []string{"Wolf", "Berge"}},
		{"birthdate=eq1932-06-09", []string{"Connelly", "Schaden"}},
		{"birthdate=1932", []string{"Connelly", "Schaden"}},
		{"birthdate=1913-01-13&name=trey", []string{"Berge"}},
		{"identifier=999-77-3783", []string{"Wolf"}},
		{"identifier=http://hl7.org/fhir/sid/us-ssn|999-77-3783", []string{"Wolf"}},
		{"identifier=http://example.org|999-77-3783", nil},
		{"identifier=|999-77-3783", nil},                          // "|value" means no system
		{"identifier=http://hl7.org/fhir/sid/us-ssn|", nil},       // matches every patient: checked below
		{"name=&birthdate=1913-01-13", []string{"Wolf", "Berge"}}, // an empty value filters nothing
		{"name=mr.&birthdate=1913", []string{"Wolf", "Berge"}},    // prefixes are name parts too
		{"birthdate=ge1932-06-09&birthdate=lt1932-06-10", []string{"Connelly", "Schaden"}},
		{"birthdate=gt1932-06-09&birthdate=le1932-12-31", nil},
		{"_id=" + ids["Wolf"] + "," + ids["Kihn"], []string{"Wolf", "Kihn"}},
		{`name=wolf\,berge`, nil},                // an escaped comma is part of the name
		{`name=wolf\\,berge`, []string{"Berge"}}, // an escaped backslash ends before the comma
		{`name=w\olf`, []string{"Wolf"}},         // escaping any other character is harmless
		{`identifier=http://hl7.org/fhir/sid/us-ssn\|999-77-3783`, nil},
		{`identifier=http://hl7.org/fhir/sid/us-ssn|999-77-3783,nope`, []string{"Wolf"}},
	}
	for _, tt := range tests {
		b := searchBundle(t, h, Prefix+"/Patient?_count=200&"+tt.query)
		if strings.HasSuffix(tt.query, "us-ssn|") {
			if b.Total != len(s.PatientIDs()) {
				t.Errorf("%s: total %d, want every patient", tt.query, b.Total)
			}
			continue
		}
		var want []string
		for _, f := range tt.want {
			want = append(want, ids[f])
		}
		if got := b.ids(); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tt.query, got, want)
		}
		if b.Total != len(want) {
			t.Errorf("%s: total %d, want %d", tt.query, b.Total, len(want))
		}
		for _, e := range b.Entry {
			if e.Search.Mode != "match" || !strings.HasSuffix(e.FullURL, "/Patient/"+e.Resource.ID) {
				t.Errorf("%s: entry %+v", tt.query, e)
			}
		}
	}
}

func TestSearchBadParams(t *testing.T) {
	h := New(Options{}).Handler()
	for _, q := range []string{
		"_count=-1", "_count=x", "_offset=-3", "birthdate=1913-1-13", "birthdate=sa1913", "birthdate=ne1913",
		"name=%zz", "identifier=a|b|c", "identifier=|", "_unknown=1&name=wolf", "name:exact=Wolf", "name=wolf;x=1",
		"_include=Patient:organization", "_sort=birthdate",
	} {
		status, body, _ := get(t, h, Prefix+"/Patient?"+q)
		if status != http.StatusBadRequest || !bytes.Contains(body, []byte("OperationOutcome")) {
			t.Errorf("%s: status %d, body %s", q, status, body)
		}
	}
}

// TestPagingByNextLink follows next links over a real loopback server, so
// the absolute links are built from a real Host header.
// Run alone with: go test ./connectors/fhir/sandbox -run TestPagingByNextLink
func TestPagingByNextLink(t *testing.T) {
	s := New(Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	var got []string
	next := srv.URL + Prefix + "/Patient?_count=5"
	pages := 0
	for next != "" {
		resp, err := srv.Client().Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var b testBundle
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		if b.Total != len(s.PatientIDs()) {
			t.Errorf("total %d", b.Total)
		}
		if self := b.link("self"); !strings.HasPrefix(self, srv.URL+Prefix+"/Patient?") {
			t.Errorf("self link %q is not absolute on the server's address", self)
		}
		got = append(got, b.ids()...)
		next = b.link("next")
		if next != "" && !strings.HasPrefix(next, srv.URL+Prefix+"/Patient?") {
			t.Fatalf("next link %q is not absolute on the server's address", next)
		}
		if pages++; pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(got, s.PatientIDs()) {
		t.Errorf("paged ids %v, want %v", got, s.PatientIDs())
	}
	if want := (len(s.PatientIDs()) + 4) / 5; pages != want {
		t.Errorf("%d pages, want %d", pages, want)
	}
}

func TestPagingByOffset(t *testing.T) {
	s := New(Options{OmitNextLinks: true})
	h := s.Handler()
	var got []string
	for offset := 0; ; offset += 4 {
		b := searchBundle(t, h, Prefix+"/Patient?_count=4&_offset="+strconv.Itoa(offset))
		if b.link("next") != "" {
			t.Fatal("next link sent with OmitNextLinks")
		}
		if len(b.Entry) == 0 {
			break
		}
		got = append(got, b.ids()...)
	}
	if !slices.Equal(got, s.PatientIDs()) {
		t.Errorf("paged ids %v, want %v", got, s.PatientIDs())
	}
	// _count=0 asks for the total only.
	if b := searchBundle(t, h, Prefix+"/Patient?_count=0"); len(b.Entry) != 0 || b.Total != len(s.PatientIDs()) {
		t.Errorf("_count=0: %d entries, total %d", len(b.Entry), b.Total)
	}
}

func TestLinksKeepFilters(t *testing.T) {
	h := New(Options{}).Handler()
	b := searchBundle(t, h, Prefix+"/Patient?birthdate=1913-01-13&_count=1")
	next := b.link("next")
	if want := "http://example.com" + Prefix + "/Patient?birthdate=1913-01-13&_count=1&_offset=1"; next != want {
		t.Fatalf("next = %q, want %q", next, want)
	}
	b2 := searchBundle(t, h, strings.TrimPrefix(next, "http://example.com"))
	if b2.link("next") != "" || len(b2.Entry) != 1 || b2.Entry[0].Resource.ID == b.Entry[0].Resource.ID {
		t.Errorf("second page: %+v", b2)
	}
}

// doc is a served resource, decoded for the independent counts below: they
// read the data with plain Go, not with the sandbox's search code.
type doc map[string]any

// docs returns every resource of a type, decoded, in search order.
func docs(t *testing.T, s *Server, typ string) []doc {
	t.Helper()
	var out []doc
	for _, r := range s.store.byType[typ] {
		var d doc
		if err := json.Unmarshal(r.raw, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// at returns the elements at a dotted path, through arrays.
func at(n any, path string) []any {
	if arr, ok := n.([]any); ok {
		var out []any
		for _, e := range arr {
			out = append(out, at(e, path)...)
		}
		return out
	}
	if path == "" {
		if n == nil {
			return nil
		}
		return []any{n}
	}
	m, ok := n.(map[string]any)
	if !ok {
		return nil
	}
	first, rest, _ := strings.Cut(path, ".")
	return at(m[first], rest)
}

// text is the string at a path, or "".
func text(d doc, path string) string {
	for _, n := range at(map[string]any(d), path) {
		if s, ok := n.(string); ok {
			return s
		}
	}
	return ""
}

// hasCode reports whether a code, Coding, CodeableConcept or Identifier at
// path has the code (any system when system is "*").
func hasCode(d doc, path, system, code string) bool {
	for _, n := range at(map[string]any(d), path) {
		switch n := n.(type) {
		case string:
			if (system == "*" || system == "") && n == code {
				return true
			}
		case map[string]any:
			cs := []any{n}
			if c, ok := n["coding"].([]any); ok {
				cs = c
			}
			for _, c := range cs {
				c, _ := c.(map[string]any)
				sys, _ := c["system"].(string)
				v, _ := c["code"].(string)
				if id, ok := c["value"].(string); ok {
					v = id
				}
				if (system == "*" || system == sys) && v == code {
					return true
				}
			}
		}
	}
	return false
}

func refersTo(d doc, path, ref string) bool {
	for _, n := range at(map[string]any(d), path+".reference") {
		if n == ref {
			return true
		}
	}
	return false
}

// Ids of the patients with a whole record.
const (
	wolf   = "e7991a49-1512-4005-a478-09ecad76ca4c"
	carla  = "d8e20eac-1721-4a71-ba98-c23d32e75105"
	loyd   = "11f2b925-43b2-45e4-ac34-7811a9eb9c1b"
	trey   = "f46d1649-8a02-4de8-8cff-f76fae267d3a"
	medRef = "MedicationRequest:medication"
)

// paramCases are searches, each with an independent predicate over the
// data saying which resources it must return.
var paramCases = []struct {
	typ, query string
	want       func(d doc) bool
}{
	{"Patient", "_lastUpdated=ge2021", func(d doc) bool { return text(d, "meta.lastUpdated") >= "2021" }},
	{"Patient", "_lastUpdated=lt2021", func(d doc) bool { return text(d, "meta.lastUpdated") < "2021" }},
	{"Patient", "name=car", func(d doc) bool { return strings.Contains(text(d, "name.given"), "Carla") }},
	{"Patient", "birthdate=lt1930", func(d doc) bool { return text(d, "birthDate") < "1930" }},
	{"Patient", "identifier=http://hl7.org/fhir/sid/us-ssn|999-77-3783", func(d doc) bool { return d["id"] == wolf }},

	{"Practitioner", "name=legros", func(d doc) bool { return text(d, "name.family") == "Legros" }},
	{"Practitioner", "name=dr", func(d doc) bool { return true }},
	{"Practitioner", "identifier=http://hl7.org/fhir/sid/us-npi|120", func(d doc) bool { return hasCode(d, "identifier", "http://hl7.org/fhir/sid/us-npi", "120") }},
	{"Practitioner", "_id=nope", func(d doc) bool { return false }},
	{"Practitioner", "_lastUpdated=lt2000", func(d doc) bool { return false }},

	{"Organization", "name=LAHEY", func(d doc) bool { return strings.HasPrefix(text(d, "name"), "LAHEY") }},
	{"Organization", "identifier=https://sandbox.ferry.example/payer-id|", func(d doc) bool { return strings.HasPrefix(d["id"].(string), "sbx-payer-") }},
	{"Organization", "_lastUpdated=ge2025", func(d doc) bool { return text(d, "meta.lastUpdated") >= "2025" }},

	{"Location", "name=winchester", func(d doc) bool { return text(d, "name") == "WINCHESTER HOSPITAL" }},
	{"Location", "name=east", func(d doc) bool { return text(d, "alias") == "East Annex (closed)" }}, // alias too
	{"Location", "identifier=LOC-0002", func(d doc) bool { return hasCode(d, "identifier", "*", "LOC-0002") }},
	{"Location", "status=inactive", func(d doc) bool { return d["status"] == "inactive" }},
	{"Location", "status=active", func(d doc) bool { return d["status"] == "active" }},

	{"Encounter", "patient=" + wolf, func(d doc) bool { return refersTo(d, "subject", "Patient/"+wolf) }},
	{"Encounter", "patient=Patient/" + carla, func(d doc) bool { return refersTo(d, "subject", "Patient/"+carla) }},
	{"Encounter", "patient=http://elsewhere.example/fhir/Patient/" + carla, func(d doc) bool { return refersTo(d, "subject", "Patient/"+carla) }},
	{"Encounter", "date=lt2000-01-01", func(d doc) bool { return text(d, "period.start") < "2000-01-01" }},
	{"Encounter", "date=ge2010-05-09", func(d doc) bool {
		start, end := text(d, "period.start"), text(d, "period.end")
		return start >= "2010-05-09" && end < "2010-05-10" || end >= "2010-05-10"
	}},
	{"Encounter", "date=2010-05", func(d doc) bool {
		return text(d, "period.start") >= "2010-05" && text(d, "period.end") < "2010-06"
	}},
	{"Encounter", "status=finished", func(d doc) bool { return d["status"] == "finished" }},
	{"Encounter", "status=planned", func(d doc) bool { return false }},
	{"Encounter", "class=EMER", func(d doc) bool { return hasCode(d, "class", "*", "EMER") }},
	{"Encounter", "class=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP,EMER", func(d doc) bool {
		return hasCode(d, "class", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP") || hasCode(d, "class", "*", "EMER")
	}},
	{"Encounter", "type=http://snomed.info/sct|185349003", func(d doc) bool { return hasCode(d, "type", "http://snomed.info/sct", "185349003") }},
	{"Encounter", "patient=" + trey + "&type=50849002", func(d doc) bool {
		return refersTo(d, "subject", "Patient/"+trey) && hasCode(d, "type", "*", "50849002")
	}},

	{"Observation", "patient=" + loyd, func(d doc) bool { return refersTo(d, "subject", "Patient/"+loyd) }},
	{"Observation", "code=http://loinc.org|8302-2", func(d doc) bool { return hasCode(d, "code", "http://loinc.org", "8302-2") }},
	{"Observation", "code=8302-2,29463-7", func(d doc) bool { return hasCode(d, "code", "*", "8302-2") || hasCode(d, "code", "*", "29463-7") }},
	{"Observation", "code=http://snomed.info/sct|8302-2", func(d doc) bool { return false }},
	{"Observation", `code=http://loinc.org\|8302-2`, func(d doc) bool { return false }}, // an escaped | is part of the code
	{"Observation", "category=laboratory", func(d doc) bool { return hasCode(d, "category", "*", "laboratory") }},
	{"Observation", "category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs&patient=" + carla, func(d doc) bool {
		return hasCode(d, "category", "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs") && refersTo(d, "subject", "Patient/"+carla)
	}},
	{"Observation", "status=final", func(d doc) bool { return d["status"] == "final" }},
	{"Observation", "status=amended", func(d doc) bool { return false }},
	{"Observation", "date=ge2010-01-01", func(d doc) bool { return text(d, "effectiveDateTime") >= "2010-01-01" }},
	{"Observation", "date=ge2010-01-01&date=lt2011", func(d doc) bool {
		e := text(d, "effectiveDateTime")
		return e >= "2010-01-01" && e < "2011"
	}},
	{"Observation", "date=2012-06-14", func(d doc) bool { return strings.HasPrefix(text(d, "effectiveDateTime"), "2012-06-14") }},
	{"Observation", "date=gt2020-06-09", func(d doc) bool { return text(d, "effectiveDateTime") >= "2020-06-10" }},
	{"Observation", "date=le1990", func(d doc) bool { return text(d, "effectiveDateTime") < "1991" }},
	{"Observation", "date=eq1988-12-23T05:19:57Z", func(d doc) bool { return text(d, "effectiveDateTime") == "1988-12-23T05:19:57+00:00" }},
	{"Observation", "date=eq1988-12-23T00:19:57-05:00", func(d doc) bool { return text(d, "effectiveDateTime") == "1988-12-23T05:19:57+00:00" }},
	{"Observation", "_lastUpdated=ge2015-01-01", func(d doc) bool { return text(d, "meta.lastUpdated") >= "2015-01-01" }},
	{"Observation", "_id=6bca3f46-6fd4-4f81-884f-4493ae2be6b8", func(d doc) bool { return d["id"] == "6bca3f46-6fd4-4f81-884f-4493ae2be6b8" }},

	{"Condition", "patient=" + trey, func(d doc) bool { return refersTo(d, "subject", "Patient/"+trey) }},
	{"Condition", "code=http://snomed.info/sct|88805009", func(d doc) bool { return hasCode(d, "code", "http://snomed.info/sct", "88805009") }},
	{"Condition", "category=problem-list-item", func(d doc) bool { return hasCode(d, "category", "*", "problem-list-item") }},
	{"Condition", "clinical-status=resolved", func(d doc) bool { return hasCode(d, "clinicalStatus", "*", "resolved") }},
	{"Condition", "onset-date=lt1990", func(d doc) bool { return text(d, "onsetDateTime") < "1990" }},

	{"AllergyIntolerance", "patient=" + carla, func(d doc) bool { return refersTo(d, "patient", "Patient/"+carla) }},
	{"AllergyIntolerance", "patient=" + wolf, func(d doc) bool { return false }},
	{"AllergyIntolerance", "code=419474003", func(d doc) bool { return hasCode(d, "code", "*", "419474003") }},
	{"AllergyIntolerance", "category=food", func(d doc) bool { return hasCode(d, "category", "", "food") }},
	{"AllergyIntolerance", "category=medication", func(d doc) bool { return false }},
	{"AllergyIntolerance", "clinical-status=active", func(d doc) bool { return hasCode(d, "clinicalStatus", "*", "active") }},
	{"AllergyIntolerance", "clinical-status=inactive", func(d doc) bool { return false }},
	{"AllergyIntolerance", "date=ge2010-05-31", func(d doc) bool { return text(d, "recordedDate") >= "2010-05-31" }},
	{"AllergyIntolerance", "date=lt2010-05-31", func(d doc) bool { return false }},

	{"MedicationRequest", "patient=" + trey, func(d doc) bool { return refersTo(d, "subject", "Patient/"+trey) }},
	// The code of a referenced Medication counts, as FHIR defines code.
	{"MedicationRequest", "code=http://www.nlm.nih.gov/research/umls/rxnorm|866414", func(d doc) bool {
		return hasCode(d, "medicationCodeableConcept", "http://www.nlm.nih.gov/research/umls/rxnorm", "866414") ||
			refersTo(d, "medicationReference", "Medication/sbx-medication-1")
	}},
	{"MedicationRequest", "status=stopped", func(d doc) bool { return d["status"] == "stopped" }},
	{"MedicationRequest", "category=community", func(d doc) bool { return hasCode(d, "category", "*", "community") }},
	{"MedicationRequest", "authoredon=ge2018", func(d doc) bool { return text(d, "authoredOn") >= "2018" }},
	{"MedicationRequest", "code=309362&_include=" + medRef, func(d doc) bool {
		return hasCode(d, "medicationCodeableConcept", "*", "309362") || refersTo(d, "medicationReference", "Medication/sbx-medication-2")
	}},

	{"Medication", "code=309362", func(d doc) bool { return hasCode(d, "code", "*", "309362") }},

	{"Immunization", "patient=" + carla, func(d doc) bool { return refersTo(d, "patient", "Patient/"+carla) }},
	{"Immunization", "vaccine-code=http://hl7.org/fhir/sid/cvx|140", func(d doc) bool { return hasCode(d, "vaccineCode", "http://hl7.org/fhir/sid/cvx", "140") }},
	{"Immunization", "status=completed", func(d doc) bool { return d["status"] == "completed" }},
	{"Immunization", "status=not-done", func(d doc) bool { return false }},
	{"Immunization", "date=lt2000", func(d doc) bool { return text(d, "occurrenceDateTime") < "2000" }},

	{"Procedure", "patient=" + loyd, func(d doc) bool { return refersTo(d, "subject", "Patient/"+loyd) }},
	{"Procedure", "code=180325003", func(d doc) bool { return hasCode(d, "code", "*", "180325003") }},
	{"Procedure", "status=not-done", func(d doc) bool { return d["status"] == "not-done" }},
	{"Procedure", "category=http://snomed.info/sct|103693007", func(d doc) bool { return hasCode(d, "category", "http://snomed.info/sct", "103693007") }},
	{"Procedure", "date=ge2021", func(d doc) bool {
		return text(d, "performedPeriod.start") >= "2021" || text(d, "performedDateTime") >= "2021"
	}},

	{"DiagnosticReport", "patient=" + wolf, func(d doc) bool { return refersTo(d, "subject", "Patient/"+wolf) }},
	{"DiagnosticReport", "code=http://loinc.org|51990-0", func(d doc) bool { return hasCode(d, "code", "http://loinc.org", "51990-0") }},
	{"DiagnosticReport", "category=http://terminology.hl7.org/CodeSystem/v2-0074|LAB", func(d doc) bool { return hasCode(d, "category", "*", "LAB") }},
	{"DiagnosticReport", "category=RAD", func(d doc) bool { return false }},
	{"DiagnosticReport", "status=final", func(d doc) bool { return d["status"] == "final" }},
	{"DiagnosticReport", "status=preliminary", func(d doc) bool { return false }},
	{"DiagnosticReport", "date=ge2015", func(d doc) bool { return text(d, "effectiveDateTime") >= "2015" }},

	{"DocumentReference", "patient=" + carla, func(d doc) bool { return refersTo(d, "subject", "Patient/"+carla) }},
	{"DocumentReference", "type=http://loinc.org|18842-5", func(d doc) bool { return hasCode(d, "type", "http://loinc.org", "18842-5") }},
	{"DocumentReference", "category=clinical-note", func(d doc) bool { return hasCode(d, "category", "*", "clinical-note") }},
	{"DocumentReference", "status=current", func(d doc) bool { return d["status"] == "current" }},
	{"DocumentReference", "date=lt2000", func(d doc) bool { return text(d, "date") < "2000" }},

	{"Appointment", "patient=" + carla, func(d doc) bool { return refersTo(d, "participant.actor", "Patient/"+carla) }},
	{"Appointment", "date=ge2026", func(d doc) bool { return text(d, "start") >= "2026" }},
	{"Appointment", "status=booked", func(d doc) bool { return d["status"] == "booked" }},

	{"Coverage", "patient=" + trey, func(d doc) bool { return refersTo(d, "beneficiary", "Patient/"+trey) }},
	{"Coverage", "status=active", func(d doc) bool { return d["status"] == "active" }},
	{"Coverage", "type=http://terminology.hl7.org/CodeSystem/v3-ActCode|PUBLICPOL", func(d doc) bool { return hasCode(d, "type", "*", "PUBLICPOL") }},
}

// TestSearchParams checks each search against an independent count over the
// embedded data, and that every search parameter of every type both finds
// something and leaves something out in at least one case.
func TestSearchParams(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	finds, filters := map[string]bool{}, map[string]bool{}
	for _, tt := range paramCases {
		var want []string
		for _, d := range docs(t, s, tt.typ) {
			if tt.want(d) {
				want = append(want, d["id"].(string))
			}
		}
		got, total := collect(t, h, Prefix+"/"+tt.typ+"?"+tt.query+"&_count=200")
		if !slices.Equal(got, want) || total != len(want) {
			t.Errorf("%s?%s: got %d (total %d), want %d: %v, want %v", tt.typ, tt.query, len(got), total, len(want), got, want)
		}
		for _, p := range strings.Split(tt.query, "&") {
			name, _, _ := strings.Cut(p, "=")
			if len(want) > 0 {
				finds[tt.typ+" "+name] = true
			}
			if len(want) < len(s.IDs(tt.typ)) {
				filters[tt.typ+" "+name] = true
			}
		}
	}
	for _, typ := range s.ResourceTypes() {
		for name := range resourceTypes[typ].params {
			if !finds[typ+" "+name] || !filters[typ+" "+name] {
				t.Errorf("%s %s: no case where it finds something (%v) and one where it leaves something out (%v)",
					typ, name, finds[typ+" "+name], filters[typ+" "+name])
			}
		}
	}
	for name := range commonParams {
		found, filtered := false, false
		for k := range finds {
			found = found || strings.HasSuffix(k, " "+name)
		}
		for k := range filters {
			filtered = filtered || strings.HasSuffix(k, " "+name)
		}
		if !found || !filtered {
			t.Errorf("%s: no case where it finds and one where it filters", name)
		}
	}
}

// collect follows next links from target and returns the ids of the
// matches and the total, failing on a duplicate or a changing total.
func collect(t *testing.T, h http.Handler, target string) ([]string, int) {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	total := -1
	for pages := 0; target != ""; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		b := searchBundle(t, h, target)
		if total >= 0 && b.Total != total {
			t.Fatalf("%s: total changed from %d to %d", target, total, b.Total)
		}
		total = b.Total
		for _, e := range b.Entry {
			if e.Search.Mode != "match" {
				continue
			}
			if seen[e.Resource.ID] {
				t.Fatalf("%s: %s twice", target, e.Resource.ID)
			}
			seen[e.Resource.ID] = true
			ids = append(ids, e.Resource.ID)
		}
		target = strings.TrimPrefix(b.link("next"), "http://example.com")
	}
	return ids, total
}

func TestEveryTypeReadAndSearch(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	want := []string{
		"AllergyIntolerance", "Appointment", "Condition", "Coverage", "DiagnosticReport", "DocumentReference",
		"Encounter", "Immunization", "Location", "Medication", "MedicationRequest", "Observation",
		"Organization", "Patient", "Practitioner", "Procedure",
	}
	if got := s.ResourceTypes(); !slices.Equal(got, want) {
		t.Fatalf("types %v, want %v", got, want)
	}
	for _, typ := range want {
		ids := s.IDs(typ)
		if len(ids) == 0 {
			t.Errorf("%s: no resources", typ)
			continue
		}
		for _, id := range ids {
			status, body, hdr := get(t, h, Prefix+"/"+typ+"/"+id)
			var r struct{ ResourceType, ID string }
			if status != http.StatusOK || json.Unmarshal(body, &r) != nil || r.ResourceType != typ || r.ID != id {
				t.Errorf("read %s/%s: status %d, %+v", typ, id, status, r)
			}
			if !strings.HasPrefix(hdr.Get("Content-Type"), "application/fhir+json") {
				t.Errorf("read %s/%s: Content-Type %q", typ, id, hdr.Get("Content-Type"))
			}
		}
		got, total := collect(t, h, Prefix+"/"+typ+"?_count=200")
		if !slices.Equal(got, ids) || total != len(ids) {
			t.Errorf("search %s: %d ids, total %d, want %d", typ, len(got), total, len(ids))
		}
		if status, _, _ := get(t, h, Prefix+"/"+typ+"/no-such-id"); status != http.StatusNotFound {
			t.Errorf("read %s/no-such-id: status %d", typ, status)
		}
	}
}

// TestPaging pages through every type, and a filtered search, by next link
// and by _offset, at several page sizes: every match comes exactly once, in
// order.
func TestPaging(t *testing.T) {
	s := New(Options{})
	links := New(Options{}).Handler()
	offsets := New(Options{OmitNextLinks: true}).Handler()
	searches := map[string][]string{"Observation?patient=" + carla + "&category=laboratory": nil}
	for _, typ := range s.ResourceTypes() {
		searches[typ+"?"] = s.IDs(typ)
	}
	var want []string
	for _, d := range docs(t, s, "Observation") {
		if refersTo(d, "subject", "Patient/"+carla) && hasCode(d, "category", "*", "laboratory") {
			want = append(want, d["id"].(string))
		}
	}
	searches["Observation?patient="+carla+"&category=laboratory"] = want
	for search, want := range searches {
		for _, size := range []int{1, 7, 200} {
			target := Prefix + "/" + search + "&_count=" + strconv.Itoa(size)
			got, total := collect(t, links, target)
			if !slices.Equal(got, want) || total != len(want) {
				t.Errorf("%s by next link: %d ids, total %d, want %d", target, len(got), total, len(want))
			}
			got = nil
			for offset := 0; ; offset += size {
				b := searchBundle(t, offsets, target+"&_offset="+strconv.Itoa(offset))
				if b.link("next") != "" {
					t.Fatal("next link sent with OmitNextLinks")
				}
				if len(b.Entry) == 0 {
					break
				}
				if len(b.Entry) > size {
					t.Fatalf("%s: %d entries on a page of %d", target, len(b.Entry), size)
				}
				got = append(got, b.ids()...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s by _offset: %d ids, want %d", target, len(got), len(want))
			}
		}
	}
}

func TestInclude(t *testing.T) {
	h := New(Options{}).Handler()
	b := searchBundle(t, h, Prefix+"/MedicationRequest?code=866414,309362&_include="+medRef+"&_count=200")
	var matches, includes []string
	for _, e := range b.Entry {
		switch e.Search.Mode {
		case "match":
			matches = append(matches, e.Resource.ID)
		case "include":
			if e.Resource.ResourceType != "Medication" || !strings.HasSuffix(e.FullURL, "/Medication/"+e.Resource.ID) {
				t.Errorf("included %+v", e)
			}
			includes = append(includes, e.Resource.ID)
		default:
			t.Errorf("mode %q", e.Search.Mode)
		}
	}
	if b.Total != len(matches) || len(matches) < 3 {
		t.Errorf("total %d, %d matches", b.Total, len(matches))
	}
	if want := []string{"sbx-medication-1", "sbx-medication-2"}; !slices.Equal(includes, want) {
		t.Errorf("included %v, want %v", includes, want)
	}
	if self := b.link("self"); !strings.Contains(self, "_include=MedicationRequest%3Amedication") {
		t.Errorf("self link %q lost the _include", self)
	}
	// Each page includes what its own matches refer to, once.
	for _, target := range []string{
		Prefix + "/MedicationRequest?code=866414&_include=" + medRef + "&_include=" + medRef + "&_count=1",
		Prefix + "/MedicationRequest?_include=" + medRef + "&_count=7",
	} {
		seen := 0
		for target != "" {
			b := searchBundle(t, h, target)
			var refs, inc []string
			for _, e := range b.Entry {
				if e.Search.Mode == "include" {
					inc = append(inc, e.Resource.ID)
					seen++
				}
			}
			for _, e := range b.Entry {
				if e.Search.Mode == "match" && strings.HasPrefix(e.Resource.ID, "sbx-") {
					refs = append(refs, e.Resource.ID)
				}
			}
			if len(inc) != len(refs) {
				t.Errorf("%s: includes %v for matches %v", target, inc, refs)
			}
			target = strings.TrimPrefix(b.link("next"), "http://example.com")
		}
		if seen == 0 {
			t.Errorf("%s: nothing included", target)
		}
	}
	// Without _include, nothing is included.
	for _, e := range searchBundle(t, h, Prefix+"/MedicationRequest?_count=200").Entry {
		if e.Search.Mode != "match" {
			t.Errorf("entry %s with mode %q", e.Resource.ID, e.Search.Mode)
		}
	}
}

// TestStrictParams: a strict server refuses what it cannot apply.
func TestStrictParams(t *testing.T) {
	h := New(Options{}).Handler()
	for _, target := range []string{
		"Observation?bogus=1", "Observation?code:text=height", "Observation?subject=Patient/" + wolf,
		"Observation?_include=" + medRef, "MedicationRequest?_include=MedicationRequest:patient",
		"MedicationRequest?_include=*", "Encounter?_sort=date", "Encounter?_elements=id",
		"Observation?date=2010-13", "Observation?date=sa2010", "Observation?date=ge2010-01-01T25:00:00Z",
		"Observation?date=2010-01-01T10", "Observation?code=a|b|c", "Observation?patient=Practitioner/x",
		"Observation?patient=bad%20id", "Coverage?beneficiary=" + trey, "Location?address=peabody",
		"Medication?patient=" + wolf, "Appointment?actor=Patient/" + carla, "Patient?_count=1&_offset=x",
	} {
		status, body, _ := get(t, h, Prefix+"/"+target)
		var oo struct {
			ResourceType string
			Issue        []struct{ Severity, Code, Diagnostics string }
		}
		if status != http.StatusBadRequest || json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" ||
			len(oo.Issue) != 1 || oo.Issue[0].Code != "invalid" || oo.Issue[0].Diagnostics == "" {
			t.Errorf("%s: status %d, body %s", target, status, body)
		}
	}
	// The outcome names what is supported, not what was sent.
	_, body, _ := get(t, h, Prefix+"/MedicationRequest?secret-value=1")
	if bytes.Contains(body, []byte("secret")) || !bytes.Contains(body, []byte("authoredon")) || !bytes.Contains(body, []byte(medRef)) {
		t.Errorf("outcome %s", body)
	}
}

func TestEmbeddedRecords(t *testing.T) {
	s := New(Options{})
	if got, want := s.RecordPatientIDs(), []string{wolf, loyd, trey, carla}; !slices.Equal(got, want) {
		t.Fatalf("record patients %v, want %v", got, want)
	}
	// Together the record patients have every patient-scoped type, and each
	// has encounters, observations, conditions and medications.
	h := s.Handler()
	for _, typ := range s.ResourceTypes() {
		if _, ok := resourceTypes[typ].params["patient"]; !ok {
			continue
		}
		sum := 0
		for _, id := range s.RecordPatientIDs() {
			_, n := collect(t, h, Prefix+"/"+typ+"?patient="+id+"&_count=0")
			sum += n
			if n == 0 && slices.Contains([]string{"Encounter", "Observation", "Condition", "MedicationRequest", "Immunization", "Procedure", "DiagnosticReport", "DocumentReference", "Appointment", "Coverage"}, typ) {
				t.Errorf("patient %s has no %s", id, typ)
			}
		}
		if sum != len(s.IDs(typ)) {
			t.Errorf("%s: %d belong to the record patients, of %d", typ, sum, len(s.IDs(typ)))
		}
	}
	// Another patient has only the Patient resource.
	if _, n := collect(t, h, Prefix+"/Observation?patient="+s.PatientIDs()[1]+"&_count=0"); n != 0 {
		t.Errorf("patient without a record has %d observations", n)
	}
}

// TestStoredForm checks what a server storing the transactions would hold:
// every reference is Type/id of a served resource (or a contained one),
// and every resource has meta.lastUpdated.
func TestStoredForm(t *testing.T) {
	s := New(Options{})
	refs := 0
	for _, typ := range s.ResourceTypes() {
		for _, d := range docs(t, s, typ) {
			var check func(n any)
			check = func(n any) {
				switch n := n.(type) {
				case map[string]any:
					for k, v := range n {
						if ref, ok := v.(string); ok && k == "reference" {
							refs++
							if !strings.HasPrefix(ref, "#") && s.store.byRef[ref] == nil {
								t.Errorf("%s/%s: reference %q does not resolve", typ, d["id"], ref)
							}
							continue
						}
						check(v)
					}
				case []any:
					for _, v := range n {
						check(v)
					}
				}
			}
			check(map[string]any(d))
			lu := text(d, "meta.lastUpdated")
			if _, err := time.Parse(time.RFC3339Nano, lu); err != nil {
				t.Errorf("%s/%s: meta.lastUpdated %q", typ, d["id"], lu)
			}
		}
	}
	if refs < 1000 {
		t.Errorf("only %d references checked", refs)
	}
	// A clinical resource is stamped with when it was recorded; a Patient
	// with the latest stamp of the data.
	enc := s.store.byRef["Encounter/5a4b2565-d4fa-4654-bd44-65c77ba110dd"]
	if !bytes.Contains(enc.raw, []byte(`"lastUpdated":"1953-01-19T05:49:57Z"`)) {
		t.Errorf("encounter stamp: %s", enc.raw[:200])
	}
	pat := s.store.byRef["Patient/"+carla]
	if !bytes.Contains(pat.raw, []byte(`"meta":{"lastUpdated":"2021-01-04T05:49:57Z","tag":`)) {
		t.Errorf("patient stamp: %s", pat.raw[:300])
	}
	// The hand-written data keeps its own stamps.
	if appt := s.store.byRef["Appointment/sbx-appointment-5"]; !bytes.Contains(appt.raw, []byte(`"lastUpdated":"2025-12-10T10:00:00Z"`)) {
		t.Errorf("appointment stamp: %s", appt.raw[:200])
	}
}

// TestParsedOnce: the embedded data is parsed by the first New only; a
// server costs nothing more.
func TestParsedOnce(t *testing.T) {
	a, b := New(Options{}), New(Options{RequireBearer: "x", OmitNextLinks: true})
	if a.store != b.store {
		t.Error("two servers parsed the data twice")
	}
	if n := testing.AllocsPerRun(100, func() { New(Options{}) }); n > 1 {
		t.Errorf("New allocates %v times", n)
	}
}

func TestDateSemantics(t *testing.T) {
	for _, tt := range []struct {
		query, value string
		period       bool // value is "start/end"
		want         bool
	}{
		{"2010", "2010-06-01", false, true},
		{"2010", "2011-01-01T00:00:00Z", false, false},
		{"eq2010-03-02", "2010-03-02T23:59:59Z", false, true},
		{"eq2010-03-02", "2010-03-02T22:00:00-05:00", false, false}, // 03:00 UTC the next day
		{"2010-03-02T22:00:00-05:00", "2010-03-03T03:00:00Z", false, true},
		{"eq2010-03", "2010-03-02", false, true},
		{"eq2010-03-02", "2010-03", false, false}, // a month is not inside a day
		{"ge2010-03-02", "2010-03", false, true},  // but reaches past it
		{"lt2010-03-02", "2010-03", false, true},  // and starts before it
		{"ge2010-03-02", "2010-03-02T00:00:00Z", false, true},
		{"ge2010-03-02", "2010-03-01T23:59:59Z", false, false},
		{"gt2010-03-02", "2010-03-02T12:00:00Z", false, false},
		{"gt2010-03-02", "2010-03-03T00:00:00Z", false, true},
		{"lt2010-03-02", "2010-03-01T23:59:59Z", false, true},
		{"lt2010-03-02", "2010-03-02T00:00:00Z", false, false},
		{"le2010-03-02", "2010-03-02T23:59:59Z", false, true},
		{"le2010-03-02", "2010-03-03T00:00:00Z", false, false},
		{"ge2010-03-02T10:00", "2010-03-02T10:00:30Z", false, true},
		{"gt2010-03-02T10:00", "2010-03-02T10:00:30Z", false, false},
		{"eq2010-03-02T10:00:00.5Z", "2010-03-02T10:00:00.512Z", false, true},
		{"eq2010-03-02T10:00:00.5Z", "2010-03-02T10:00:00.6Z", false, false},
		// Periods: an open end goes on for ever.
		{"ge2010-03-02", "2010-03-01T23:00:00Z/2010-03-02T01:00:00Z", true, false},
		{"lt2010-03-02", "2010-03-01T23:00:00Z/2010-03-02T01:00:00Z", true, true},
		{"ge2010-03-02", "2010-03-01T23:00:00Z/", true, true},
		{"lt2010-03-02", "/2010-03-05", true, true},
		{"eq2010-03", "2010-03-01T10:00:00Z/2010-03-01T11:00:00Z", true, true},
		{"eq2010-03", "2010-03-01T10:00:00Z/", true, false},
	} {
		var n any = tt.value
		if tt.period {
			start, end, _ := strings.Cut(tt.value, "/")
			m := map[string]any{}
			if start != "" {
				m["start"] = start
			}
			if end != "" {
				m["end"] = end
			}
			n = m
		}
		vals := dateParam.values(n, nil)
		c, problem := parseCriterion("date", date("x"), tt.query)
		if problem != "" || len(vals) != 1 {
			t.Fatalf("%s %s: %q, %d values", tt.query, tt.value, problem, len(vals))
		}
		if got := c.matches(dateParam, &vals[0]); got != tt.want {
			t.Errorf("%s matches %s: %v, want %v", tt.query, tt.value, got, tt.want)
		}
	}
}

func BenchmarkSearch(b *testing.B) {
	h := New(Options{}).Handler()
	req := httptest.NewRequest(http.MethodGet, Prefix+"/Observation?patient="+loyd+"&category=laboratory&date=ge2004&_count=20", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// TestSortByLastUpdated: _sort=_lastUpdated gives the same matches, oldest
// change first, and is the only order offered.
func TestSortByLastUpdated(t *testing.T) {
	s := New(Options{})
	pid := s.PatientIDs()[0]
	type stamped struct {
		Entry []struct {
			Resource struct {
				ID   string `json:"id"`
				Meta struct {
					LastUpdated string `json:"lastUpdated"`
				} `json:"meta"`
			} `json:"resource"`
		} `json:"entry"`
	}
	search := func(q string) stamped {
		status, body, _ := get(t, s.Handler(), Prefix+"/Observation?patient="+pid+"&_count=200"+q)
		var b stamped
		if status != http.StatusOK || json.Unmarshal(body, &b) != nil {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		return b
	}
	plain, sorted := search(""), search("&_sort=_lastUpdated")
	if len(plain.Entry) < 2 || len(sorted.Entry) != len(plain.Entry) {
		t.Fatalf("%d sorted, %d unsorted matches", len(sorted.Entry), len(plain.Entry))
	}
	var prev string
	for i, e := range sorted.Entry {
		at := e.Resource.Meta.LastUpdated
		if at == "" || at < prev {
			t.Fatalf("entry %d at %q after %q", i, at, prev)
		}
		prev = at
	}
	if status, _, _ := get(t, s.Handler(), Prefix+"/Observation?patient="+pid+"&_sort=date"); status != http.StatusBadRequest {
		t.Errorf("_sort=date: status %d, want 400", status)
	}
}
