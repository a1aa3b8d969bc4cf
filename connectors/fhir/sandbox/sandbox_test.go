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
	// The resource is served as the Synthea bundle had it.
	if !bytes.Equal(body, s.byID[id].raw) {
		t.Error("body is not the embedded resource")
	}
	var p struct{ ResourceType, ID string }
	if err := json.Unmarshal(body, &p); err != nil || p.ResourceType != "Patient" || p.ID != id {
		t.Errorf("got %+v, %v", p, err)
	}
}

func TestNotFound(t *testing.T) {
	h := New(Options{}).Handler()
	for _, target := range []string{Prefix + "/Patient/nope", Prefix + "/Observation", "/other", Prefix + "/Patient/a/b"} {
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
	req := httptest.NewRequest(http.MethodPost, Prefix+"/Patient", strings.NewReader("{}"))
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
	}
	if err := json.Unmarshal(body, &cs); err != nil || cs.ResourceType != "CapabilityStatement" || cs.FhirVersion != "4.0.1" {
		t.Errorf("got %+v, %v", cs, err)
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
	for _, p := range s.patients {
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
		{"identifier=|999-77-3783", nil},                    // "|value" means no system
		{"identifier=http://hl7.org/fhir/sid/us-ssn|", nil}, // matches every patient: checked below
		{"_unknown=1&name=wolf", []string{"Wolf"}},
		{`name=wolf\,berge`, nil},                // an escaped comma is part of the name
		{`name=wolf\\,berge`, []string{"Berge"}}, // an escaped backslash ends before the comma
		{`name=w\olf`, []string{"Wolf"}},         // escaping any other character is harmless
		{`identifier=http://hl7.org/fhir/sid/us-ssn\|999-77-3783`, nil},
		{`identifier=http://hl7.org/fhir/sid/us-ssn|999-77-3783,nope`, []string{"Wolf"}},
	}
	for _, tt := range tests {
		b := searchBundle(t, h, Prefix+"/Patient?_count=200&"+tt.query)
		if strings.HasSuffix(tt.query, "us-ssn|") {
			if b.Total != len(s.patients) {
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
	for _, q := range []string{"_count=-1", "_count=x", "_offset=-3", "birthdate=1913-1-13", "birthdate=ge1913", "name=%zz", "identifier=a|b|c"} {
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
		if b.Total != len(s.patients) {
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
	if want := (len(s.patients) + 4) / 5; pages != want {
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
	if b := searchBundle(t, h, Prefix+"/Patient?_count=0"); len(b.Entry) != 0 || b.Total != len(s.patients) {
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
