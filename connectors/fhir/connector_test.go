package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
)

// phiMarker is planted in source bodies that the connector must not repeat
// in its errors.
const phiMarker = "Chalmers-PHI-7731"

var testClock = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fakeTransport answers each request with handle and records it, for tests
// that need exact control of the source's answers (faults included).
type fakeTransport struct {
	mu     sync.Mutex
	reqs   []*connectors.HTTPRequest
	handle func(req *connectors.HTTPRequest) (*connectors.HTTPResponse, error)
}

func (f *fakeTransport) Do(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	return f.handle(req)
}

func (f *fakeTransport) last(t *testing.T) *connectors.HTTPRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request was sent")
	}
	return f.reqs[len(f.reqs)-1]
}

// answer returns a transport that answers every request with status and
// body.
func answer(status int, body string) *fakeTransport {
	return &fakeTransport{handle: func(*connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		return &connectors.HTTPResponse{Status: status, Body: []byte(body)}, nil
	}}
}

// configured returns a connector with a fixed clock and connection "c1"
// configured with settings.
func configured(t *testing.T, settings string) *Connector {
	t.Helper()
	c := newConnector()
	c.now = func() time.Time { return testClock }
	if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "c1", Settings: json.RawMessage(settings)}); err != nil {
		t.Fatalf("Configure(%s): %v", settings, err)
	}
	return c
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// examplePatient is the input of the fhir-example golden case.
func examplePatient(t *testing.T) []byte {
	t.Helper()
	in := txtar.Parse(readFile(t, filepath.Join("testdata", "golden", "patients", "fhir-example.txtar"))).Get("input.json")
	if in == nil {
		t.Fatal("no input.json in fhir-example.txtar")
	}
	return in
}

// wantCode checks that err is a *connectors.Error with code and param, and
// that its text carries nothing of the source's body.
func wantCode(t *testing.T, err error, code connectors.ErrorCode, param string) {
	t.Helper()
	var e *connectors.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if e.Code != code || e.Param != param {
		t.Fatalf("error %v: code %v param %q, want %v %q", err, e.Code, e.Param, code, param)
	}
	if strings.Contains(err.Error(), phiMarker) || strings.Contains(err.Error(), "evil") {
		t.Fatalf("error text %q repeats the source's answer", err.Error())
	}
}

func TestMetadata(t *testing.T) {
	var c connectors.Connector = New()
	m, err := c.Metadata(context.Background(), &connectors.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "fhir" || m.Version == "" {
		t.Errorf("kind %q version %q", m.Kind, m.Version)
	}
	rc, ok := m.Resource(unified.Patients)
	if !ok || !rc.Read || !rc.Search || len(rc.RequiredParams) != 0 {
		t.Errorf("patients capability %+v", rc)
	}
	if want := []string{"name", "birth_date", "identifier", "updated_gte", "sort"}; !slices.Equal(rc.SearchParams, want) {
		t.Errorf("search params %v, want %v", rc.SearchParams, want)
	}
	if want := []string{"none", "bearer", "basic", "api_key"}; !slices.Equal(m.AuthKinds, want) {
		t.Errorf("auth kinds %v, want %v", m.AuthKinds, want)
	}
	// The manifest is the caller's to keep: changing it changes nothing.
	for i := range m.Resources {
		m.Resources[i].SearchParams[0] = "changed"
	}
	m2, _ := c.Metadata(context.Background(), &connectors.MetadataRequest{})
	if rc2, _ := m2.Resource(unified.Patients); rc2.SearchParams[0] != "name" {
		t.Error("Metadata shares its slices between calls")
	}
	// Every mapped resource is offered, read and search.
	if len(m.Resources) != len(resourceMaps) {
		t.Errorf("%d resources in the manifest, %d mapped", len(m.Resources), len(resourceMaps))
	}
}

func TestConfigure(t *testing.T) {
	good := map[string]Paging{
		``:                    PagingAuto,
		`null`:                PagingAuto,
		`{}`:                  PagingAuto,
		` {"paging":"link"}`:  PagingLink,
		`{"paging":"offset"}`: PagingOffset,
		`{"paging":"auto"}`:   PagingAuto,
	}
	for settings, want := range good {
		c := configured(t, settings)
		s, err := c.settings("c1")
		if err != nil || s.Paging != want {
			t.Errorf("settings %q: paging %v, %v; want %v", settings, s, err, want)
		}
	}
	bad := map[string]string{
		`{"paging":"cursor"}`:        "settings.paging",
		`{"paging":"Auto"}`:          "settings.paging",
		`{"pagin":"auto"}`:           "settings",
		`{"paging":"auto","x":1}`:    "settings",
		`{"paging":1}`:               "settings",
		`[]`:                         "settings",
		`"auto"`:                     "settings",
		`{"paging":"auto"} {}`:       "settings",
		`{"paging":"auto"`:           "settings",
		`{"paging":"auto","paging"}`: "settings",
	}
	for settings, param := range bad {
		c := newConnector()
		_, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "c1", Settings: json.RawMessage(settings)})
		wantCode(t, err, connectors.CodeInvalidArgument, param)
	}
	_, err := newConnector().Configure(context.Background(), &connectors.ConfigureRequest{})
	wantCode(t, err, connectors.CodeInvalidArgument, "connection_id")
}

func TestReconfigure(t *testing.T) {
	c := configured(t, `{"paging":"link"}`)
	if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "c1", Settings: json.RawMessage(`{"paging":"offset"}`)}); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.settings("c1"); s.Paging != PagingOffset {
		t.Errorf("paging %v after reconfigure", s.Paging)
	}
}

func TestUnconfiguredConnection(t *testing.T) {
	c := configured(t, "")
	tr := answer(200, "{}")
	_, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c2", Resource: unified.Patients, ID: "x", Transport: tr})
	wantCode(t, err, connectors.CodeInternal, "")
	_, err = c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c2", Resource: unified.Patients, Limit: 5, Transport: tr})
	wantCode(t, err, connectors.CodeInternal, "")
	if len(tr.reqs) != 0 {
		t.Error("a request was sent for an unconfigured connection")
	}
}

func TestReadOK(t *testing.T) {
	body := examplePatient(t)
	c := configured(t, "")
	tr := &fakeTransport{handle: func(*connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		return &connectors.HTTPResponse{Status: 200, Body: body}, nil
	}}
	resp, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "example", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	req := tr.last(t)
	if req.Method != "GET" || req.Path != "Patient/example" || len(req.Query) != 0 || len(req.Body) != 0 {
		t.Errorf("request %+v", req)
	}
	if !reflect.DeepEqual(req.Header, []connectors.Param{{Name: "Accept", Value: "application/fhir+json"}}) {
		t.Errorf("headers %v", req.Header)
	}
	var p unified.Patient
	if err := json.Unmarshal(resp.Record, &p); err != nil {
		t.Fatal(err)
	}
	want := unified.Source{ConnectionID: "c1", System: "fhir", SourceID: "example", FetchedAt: testClock}
	if p.ID != "example" || p.Source != want {
		t.Errorf("id %q source %+v", p.ID, p.Source)
	}
	if len(p.Raw) != 0 || strings.Contains(string(resp.Record), `"raw"`) {
		t.Error("raw present without Raw")
	}

	// With Raw, the untouched resource comes along.
	resp, err = c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "example", Raw: true, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	var withRaw struct{ Raw json.RawMessage }
	if err := json.Unmarshal(resp.Record, &withRaw); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, withRaw.Raw, body) {
		t.Error("raw differs from the source's resource")
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestReadErrors(t *testing.T) {
	outcome := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"` + phiMarker + `"}]}`
	tests := []struct {
		name   string
		status int
		body   string
		code   connectors.ErrorCode
	}{
		{"404", 404, outcome, connectors.CodeNotFound},
		{"410 gone", 410, outcome, connectors.CodeNotFound},
		{"401", 401, outcome, connectors.CodeUpstream},
		{"403", 403, outcome, connectors.CodeUpstream},
		{"500", 500, outcome, connectors.CodeUpstream},
		{"503", 503, "<html>" + phiMarker + "</html>", connectors.CodeUpstream},
		{"400", 400, outcome, connectors.CodeUpstream},
		{"302", 302, "", connectors.CodeUpstream},
		{"204", 204, "", connectors.CodeUpstream},
		{"non-JSON", 200, "<Patient><id value=\"" + phiMarker + "\"/></Patient>", connectors.CodeUpstream},
		{"empty body", 200, "", connectors.CodeUpstream},
		{"truncated", 200, `{"resourceType":"Patient","id":"p1","name":[{"family":"` + phiMarker, connectors.CodeUpstream},
		{"wrong type", 200, outcome, connectors.CodeUpstream},
		{"no type", 200, `{"id":"p1","name":[{"family":"` + phiMarker + `"}]}`, connectors.CodeUpstream},
		{"another patient", 200, `{"resourceType":"Patient","id":"p2","name":[{"family":"` + phiMarker + `"}]}`, connectors.CodeUpstream},
		{"wrong field type", 200, `{"resourceType":"Patient","id":"p1","name":"` + phiMarker + `"}`, connectors.CodeUpstream},
	}
	c := configured(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "p1", Transport: answer(tt.status, tt.body)})
			wantCode(t, err, tt.code, "")
		})
	}
}

func TestReadWithoutID(t *testing.T) {
	// A Patient without an id (invalid FHIR) is the one that was asked for.
	c := configured(t, "")
	resp, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "p1",
		Transport: answer(200, `{"resourceType":"Patient","gender":"female"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var p unified.Patient
	json.Unmarshal(resp.Record, &p)
	if p.ID != "p1" || p.Source.SourceID != "p1" || p.Gender != "female" {
		t.Errorf("got %+v", p)
	}
}

func TestReadTransportError(t *testing.T) {
	c := configured(t, "")
	hostErr := &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	tr := &fakeTransport{handle: func(*connectors.HTTPRequest) (*connectors.HTTPResponse, error) { return nil, hostErr }}
	_, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "p1", Transport: tr})
	if err != hostErr {
		t.Errorf("error %v, want the transport's own", err)
	}
	_, err = c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 5, Transport: tr})
	if err != hostErr {
		t.Errorf("search error %v, want the transport's own", err)
	}
}

func TestReadBadRequest(t *testing.T) {
	c := configured(t, "")
	tr := answer(200, "{}")
	for _, id := range []string{"", "..", ".", "a/b", "a?b", "a b", strings.Repeat("a", 65), "%2e%2e"} {
		_, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: id, Transport: tr})
		wantCode(t, err, connectors.CodeInvalidArgument, "id")
	}
	_, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: "spaceships", ID: "o1", Transport: tr})
	wantCode(t, err, connectors.CodeUnsupported, "resource")
	_, err = c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: "spaceships", Limit: 5, Transport: tr})
	wantCode(t, err, connectors.CodeUnsupported, "resource")
	if len(tr.reqs) != 0 {
		t.Error("a request was sent for a refused read")
	}
	_, err = c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "p1"})
	wantCode(t, err, connectors.CodeInternal, "")
}

// searchset builds a searchset Bundle of the given entries (resources as
// JSON) with optional self and next links.
func bundleJSON(self, next string, total int, entries ...string) string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"searchset"`)
	if total >= 0 {
		b.WriteString(`,"total":` + itoa(total))
	}
	b.WriteString(`,"link":[`)
	sep := ""
	if self != "" {
		b.WriteString(`{"relation":"self","url":` + quote(self) + `}`)
		sep = ","
	}
	if next != "" {
		b.WriteString(sep + `{"relation":"next","url":` + quote(next) + `}`)
	}
	b.WriteString(`],"entry":[`)
	for i, e := range entries {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(e)
	}
	b.WriteString(`]}`)
	return b.String()
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func patientEntry(id string) string {
	return `{"fullUrl":"http://src.example/fhir/R4/Patient/` + id + `","resource":{"resourceType":"Patient","id":"` + id +
		`","name":[{"family":"Family` + id + `"}]},"search":{"mode":"match"}}`
}

func patientEntries(ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, patientEntry(id))
	}
	return out
}

// recordIDs returns the ids of a page's records.
func recordIDs(t *testing.T, resp *connectors.SearchResponse) []string {
	t.Helper()
	var ids []string
	for _, r := range resp.Records {
		var p unified.Patient
		if err := json.Unmarshal(r, &p); err != nil {
			t.Fatal(err)
		}
		if p.Source.SourceID != p.ID || p.Source.FetchedAt != testClock || p.Source.ConnectionID != "c1" {
			t.Errorf("record %s has source %+v", p.ID, p.Source)
		}
		ids = append(ids, p.ID)
	}
	return ids
}

func TestSearchQuery(t *testing.T) {
	c := configured(t, "")
	tr := answer(200, bundleJSON("", "", 0))
	_, err := c.Search(context.Background(), &connectors.SearchRequest{
		ConnectionID: "c1",
		Resource:     unified.Patients,
		Params:       map[string]string{"name": "chal", "birth_date": "1974-12-25", "identifier": "urn:oid:1.2.36.146.595.217.0.1|12345"},
		Limit:        25,
		Transport:    tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := tr.last(t)
	want := []connectors.Param{
		{Name: "name", Value: "chal"},
		{Name: "birthdate", Value: "1974-12-25"},
		{Name: "identifier", Value: "urn:oid:1.2.36.146.595.217.0.1|12345"},
		{Name: "_count", Value: "25"},
	}
	if req.Method != "GET" || req.Path != "Patient" || !reflect.DeepEqual(req.Query, want) {
		t.Errorf("request %s %s %v, want GET Patient %v", req.Method, req.Path, req.Query, want)
	}
	if !reflect.DeepEqual(req.Header, []connectors.Param{{Name: "Accept", Value: "application/fhir+json"}}) {
		t.Errorf("headers %v", req.Header)
	}

	// No filters, no limit: only the default page size.
	if _, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Transport: tr}); err != nil {
		t.Fatal(err)
	}
	if q := tr.last(t).Query; !reflect.DeepEqual(q, []connectors.Param{{Name: "_count", Value: itoa(unified.DefaultLimit)}}) {
		t.Errorf("query %v", q)
	}
	// FHIR's separators inside a value are escaped, so a value is one value.
	if _, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients,
		Params: map[string]string{"name": `O'Brien, Pat$\`, "identifier": "urn:x|a,b"}, Limit: 3, Transport: tr}); err != nil {
		t.Fatal(err)
	}
	want = []connectors.Param{{Name: "name", Value: `O'Brien\, Pat\$\\`}, {Name: "identifier", Value: `urn:x|a\,b`}, {Name: "_count", Value: "3"}}
	if q := tr.last(t).Query; !reflect.DeepEqual(q, want) {
		t.Errorf("query %q, want %q", q, want)
	}
	// Empty values are no filter.
	if _, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Params: map[string]string{"name": ""}, Limit: 3, Transport: tr}); err != nil {
		t.Fatal(err)
	}
	if q := tr.last(t).Query; !reflect.DeepEqual(q, []connectors.Param{{Name: "_count", Value: "3"}}) {
		t.Errorf("query %v", q)
	}
}

func TestSearchBadParams(t *testing.T) {
	c := configured(t, "")
	tr := answer(200, bundleJSON("", "", 0))
	tests := []struct {
		params map[string]string
		code   connectors.ErrorCode
		param  string
	}{
		{map[string]string{"birth_date": "1974-12-5"}, connectors.CodeInvalidArgument, "birth_date"},
		{map[string]string{"birth_date": "1974-13-05"}, connectors.CodeInvalidArgument, "birth_date"},
		{map[string]string{"birth_date": "1974"}, connectors.CodeInvalidArgument, "birth_date"},
		{map[string]string{"birth_date": "ge1974-12-05"}, connectors.CodeInvalidArgument, "birth_date"},
		{map[string]string{"identifier": "a|b|c"}, connectors.CodeInvalidArgument, "identifier"},
		{map[string]string{"identifier": "|"}, connectors.CodeInvalidArgument, "identifier"},
		{map[string]string{"gender": "male"}, connectors.CodeUnsupported, "gender"},
	}
	for _, tt := range tests {
		_, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Params: tt.params, Limit: 5, Transport: tr})
		wantCode(t, err, tt.code, tt.param)
	}
	if len(tr.reqs) != 0 {
		t.Error("a request was sent for a refused search")
	}
}

func TestSearchEntries(t *testing.T) {
	// A page mixing matches with an OperationOutcome, an included
	// Practitioner and a Location whose address does not fit a Patient's.
	body := bundleJSON("", "", 3,
		patientEntry("p1"),
		`{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"processing"}]},"search":{"mode":"outcome"}}`,
		`{"resource":{"resourceType":"Practitioner","id":"dr1","name":[{"family":"Who"}]},"search":{"mode":"include"}}`,
		`{"resource":{"resourceType":"Location","id":"l1","address":{"city":"Nowhere"}}}`,
		patientEntry("p2"),
		`{"resource":{"resourceType":"Patient","id":"p3","extension":[{"url":"x","valueString":"y"}],"futureField":{"a":[1,2,3]}}}`,
	)
	c := configured(t, "")
	// Without raw, the Location makes the one-pass decoding fail and the
	// page is decoded entry by entry instead; with raw it always is.
	for _, withoutLocation := range []bool{false, true} {
		body := body
		if withoutLocation {
			body = strings.Replace(body, `{"resource":{"resourceType":"Location","id":"l1","address":{"city":"Nowhere"}}},`, "", 1)
		}
		for _, raw := range []bool{false, true} {
			resp, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 10, Raw: raw, Transport: answer(200, body)})
			if err != nil {
				t.Fatal(err)
			}
			if got := recordIDs(t, resp); !slices.Equal(got, []string{"p1", "p2", "p3"}) {
				t.Errorf("raw %v: records %v", raw, got)
			}
		}
	}
	resp, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 10, Raw: true, Transport: answer(200, body)})
	if err != nil {
		t.Fatal(err)
	}
	var withRaw struct{ Raw json.RawMessage }
	json.Unmarshal(resp.Records[2], &withRaw)
	if !jsonEqual(t, withRaw.Raw, []byte(`{"resourceType":"Patient","id":"p3","extension":[{"url":"x","valueString":"y"}],"futureField":{"a":[1,2,3]}}`)) {
		t.Errorf("raw %s", withRaw.Raw)
	}
	if resp.NextPageToken != "" {
		t.Errorf("token %q on a short page", resp.NextPageToken)
	}
}

func TestSearchErrors(t *testing.T) {
	badPatient := bundleJSON("", "", 1, `{"resource":{"resourceType":"Patient","id":"p1","name":"`+phiMarker+`"}}`)
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"500", 500, `{"resourceType":"OperationOutcome","issue":[{"diagnostics":"` + phiMarker + `"}]}`},
		{"502", 502, "bad gateway " + phiMarker},
		{"404", 404, ""},
		{"410", 410, ""},
		{"401", 401, ""},
		{"non-JSON", 200, "<Bundle>" + phiMarker + "</Bundle>"},
		{"not a bundle", 200, `{"resourceType":"Patient","id":"p1"}`},
		{"not a searchset", 200, `{"resourceType":"Bundle","type":"transaction","entry":[]}`},
		{"entry not JSON", 200, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":` + phiMarker + `}]}`},
		{"malformed patient", 200, badPatient},
		{"total not a number", 200, `{"resourceType":"Bundle","type":"searchset","total":"many"}`},
	}
	c := configured(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 5, Transport: answer(tt.status, tt.body)})
			wantCode(t, err, connectors.CodeUpstream, "")
		})
	}
}

// pager answers page requests from a map of "path?query" to body.
func pager(t *testing.T, pages map[string]string) *fakeTransport {
	return &fakeTransport{handle: func(req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		key := req.Path + "?" + encodeParams(req.Query)
		body, ok := pages[key]
		if !ok {
			t.Errorf("unexpected request %q", key)
			return &connectors.HTTPResponse{Status: 404}, nil
		}
		return &connectors.HTTPResponse{Status: 200, Body: []byte(body)}, nil
	}}
}

func encodeParams(ps []connectors.Param) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, url.QueryEscape(p.Name)+"="+url.QueryEscape(p.Value))
	}
	return strings.Join(parts, "&")
}

func TestPagingByNextLink(t *testing.T) {
	const base = "http://src.example/fhir/R4"
	tr := pager(t, map[string]string{
		"Patient?name=fam&_count=2": bundleJSON(base+"/Patient?name=fam&_count=2", base+"/Patient?name=fam&_count=2&_offset=2", 5,
			patientEntries("p1", "p2")...),
		"Patient?name=fam&_count=2&_offset=2": bundleJSON(base+"/Patient?name=fam&_count=2&_offset=2", "Patient?name=fam&_count=2&_offset=4", 5,
			patientEntries("p3", "p4")...),
		"Patient?name=fam&_count=2&_offset=4": bundleJSON(base+"/Patient?name=fam&_count=2&_offset=4", "", 5,
			patientEntries("p5")...),
	})
	c := configured(t, "")
	got, tokens := pageAll(t, c, tr, map[string]string{"name": "fam"}, 2)
	if !slices.Equal(got, []string{"p1", "p2", "p3", "p4", "p5"}) {
		t.Errorf("records %v", got)
	}
	// The first token comes from an absolute link made relative, the
	// second from a link that was relative already.
	if want := []string{"l:Patient?name=fam&_count=2&_offset=2", "l:Patient?name=fam&_count=2&_offset=4"}; !slices.Equal(tokens, want) {
		t.Errorf("tokens %q, want %q", tokens, want)
	}
}

// TestPagingHAPIStyle pages like HAPI FHIR, whose next links point at the
// base URL itself with a paging id, and whose self link on later pages does
// too.
func TestPagingHAPIStyle(t *testing.T) {
	const base = "https://hapi.example/baseR4"
	tr := pager(t, map[string]string{
		"Patient?_count=2": bundleJSON(base+"/Patient?_count=2", base+"?_getpages=abc&_getpagesoffset=2&_count=2&_bundletype=searchset", -1,
			patientEntries("p1", "p2")...),
		"?_getpages=abc&_getpagesoffset=2&_count=2&_bundletype=searchset": bundleJSON(base+"?_getpages=abc&_getpagesoffset=2&_count=2&_bundletype=searchset",
			base+"?_getpages=abc&_getpagesoffset=4&_count=2&_bundletype=searchset", -1, patientEntries("p3", "p4")...),
		"?_getpages=abc&_getpagesoffset=4&_count=2&_bundletype=searchset": bundleJSON(base+"?_getpages=abc&_getpagesoffset=4&_count=2&_bundletype=searchset",
			"", -1, patientEntries("p5", "p6")...),
	})
	c := configured(t, "")
	got, tokens := pageAll(t, c, tr, nil, 2)
	if !slices.Equal(got, []string{"p1", "p2", "p3", "p4", "p5", "p6"}) {
		t.Errorf("records %v", got)
	}
	// The last page is full but came by link: its offset is unknown, so
	// paging ends with the source's links.
	if want := []string{
		"l:?_getpages=abc&_getpagesoffset=2&_count=2&_bundletype=searchset",
		"l:?_getpages=abc&_getpagesoffset=4&_count=2&_bundletype=searchset",
	}; !slices.Equal(tokens, want) {
		t.Errorf("tokens %q, want %q", tokens, want)
	}
}

func TestPagingByOffset(t *testing.T) {
	pages := map[string]string{
		"Patient?birthdate=1974-12-25&_count=2":           bundleJSON("", "", -1, patientEntries("p1", "p2")...),
		"Patient?birthdate=1974-12-25&_count=2&_offset=2": bundleJSON("", "", -1, patientEntries("p3", "p4")...),
		"Patient?birthdate=1974-12-25&_count=2&_offset=4": bundleJSON("", "", -1, patientEntries("p5")...),
	}
	c := configured(t, "")
	got, tokens := pageAll(t, c, pager(t, pages), map[string]string{"birth_date": "1974-12-25"}, 2)
	if !slices.Equal(got, []string{"p1", "p2", "p3", "p4", "p5"}) {
		t.Errorf("records %v", got)
	}
	if want := []string{"o:2", "o:4"}; !slices.Equal(tokens, want) {
		t.Errorf("tokens %q, want %q", tokens, want)
	}
}

func TestPagingOffsetStopsAtTotal(t *testing.T) {
	// The last page is full, but the total says there is no more: no empty
	// extra page is asked for.
	pages := map[string]string{
		"Patient?_count=2":           bundleJSON("", "", 4, patientEntries("p1", "p2")...),
		"Patient?_count=2&_offset=2": bundleJSON("", "", 4, patientEntries("p3", "p4")...),
	}
	c := configured(t, "")
	got, tokens := pageAll(t, c, pager(t, pages), nil, 2)
	if !slices.Equal(got, []string{"p1", "p2", "p3", "p4"}) || !slices.Equal(tokens, []string{"o:2"}) {
		t.Errorf("records %v tokens %q", got, tokens)
	}
}

func TestPagingModes(t *testing.T) {
	const base = "http://src.example/fhir/R4"
	full := bundleJSON(base+"/Patient?_count=2", "", -1, patientEntries("p1", "p2")...)
	fullWithNext := bundleJSON(base+"/Patient?_count=2", base+"/Patient?_count=2&page=2", -1, patientEntries("p1", "p2")...)
	tests := []struct {
		settings, body, want string
	}{
		{`{"paging":"auto"}`, full, "o:2"},
		{`{"paging":"auto"}`, fullWithNext, "l:Patient?_count=2&page=2"},
		{`{"paging":"link"}`, full, ""},
		{`{"paging":"link"}`, fullWithNext, "l:Patient?_count=2&page=2"},
		{`{"paging":"offset"}`, full, "o:2"},
		{`{"paging":"offset"}`, fullWithNext, "o:2"},
	}
	for _, tt := range tests {
		c := configured(t, tt.settings)
		resp, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 2, Transport: answer(200, tt.body)})
		if err != nil {
			t.Fatalf("%s: %v", tt.settings, err)
		}
		if resp.NextPageToken != tt.want {
			t.Errorf("%s, next link %v: token %q, want %q", tt.settings, strings.Contains(tt.body, "next"), resp.NextPageToken, tt.want)
		}
	}
}

// pageAll pages a search to its end and returns the records' ids and the
// tokens it went through.
func pageAll(t *testing.T, c *Connector, tr connectors.Transport, params map[string]string, limit int) (ids, tokens []string) {
	t.Helper()
	token := ""
	for i := 0; ; i++ {
		if i > 50 {
			t.Fatal("paging does not end")
		}
		resp, err := c.Search(context.Background(), &connectors.SearchRequest{
			ConnectionID: "c1", Resource: unified.Patients, Params: params, Limit: limit, PageToken: token, Transport: tr,
		})
		if err != nil {
			t.Fatalf("page %d (token %q): %v", i+1, token, err)
		}
		ids = append(ids, recordIDs(t, resp)...)
		if resp.NextPageToken == "" {
			return ids, tokens
		}
		token = resp.NextPageToken
		tokens = append(tokens, token)
	}
}

func TestMalformedPageToken(t *testing.T) {
	c := configured(t, "")
	tr := answer(200, bundleJSON("", "", 0))
	for _, tok := range []string{
		"x", "o:", "o:0", "o:-1", "o:01", "o:1x", "o:99999999999", "o: 1", "O:1",
		"l:", "l:/Patient", "l:http://evil.example/Patient", "l:../Patient", "l:Patient/../x",
		"l:Patient?", "l:Patient?a", "l:Patient?a=b&", "l:Patient?a=%zz", "l:Patient?a=b c",
		"l:Patient?a=%7c", "l://evil.example/x", "l:Patient#frag", "l:Pa tient", "l:Patient//x",
		"L:Patient", "l:Patient?=x", "2:o:1",
	} {
		_, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 5, PageToken: tok, Transport: tr})
		wantCode(t, err, connectors.CodeInvalidArgument, "cursor")
	}
	if len(tr.reqs) != 0 {
		t.Error("a request was sent for a malformed token")
	}
}

func TestNextLinkRefused(t *testing.T) {
	const self = "http://src.example/fhir/R4/Patient?_count=2"
	tests := []struct{ name, self, next string }{
		{"another host", self, "http://evil.example/fhir/R4/Patient?_count=2&_offset=2"},
		{"another port", self, "http://src.example:8443/fhir/R4/Patient?_count=2&_offset=2"},
		{"another scheme", self, "https://src.example/fhir/R4/Patient?_count=2&_offset=2"},
		{"scheme-relative to another host", self, "//evil.example/fhir/R4/Patient?page=2"},
		{"outside the base path", self, "http://src.example/other/Patient?page=2"},
		{"root-relative outside the base path", self, "/evil/Patient?page=2"},
		{"absolute without self", "", "http://src.example/fhir/R4/Patient?page=2"},
		{"relative self", "Patient?_count=2", "http://src.example/fhir/R4/Patient?page=2"},
		{"self of another path", "http://src.example/fhir/R4/Observation", "http://src.example/fhir/R4/Patient?page=2"},
		{"not http", self, "ftp://src.example/fhir/R4/Patient?page=2"},
		{"user info", self, "http://evil@src.example/fhir/R4/Patient?page=2"},
		{"dot segments", self, "http://src.example/fhir/R4/../R4/Patient?page=2"},
		{"relative dot segments", self, "../Patient?page=2"},
		{"opaque", self, "mailto:evil@evil.example"},
		{"bad escape", self, "Patient?page=%zz"},
		{"base itself", self, "http://src.example/fhir/R4/"},
		{"too long", self, "Patient?page=" + strings.Repeat("a", maxTokenLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := configured(t, "")
			body := bundleJSON(tt.self, tt.next, -1, patientEntries("p1", "p2")...)
			_, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 2, Transport: answer(200, body)})
			wantCode(t, err, connectors.CodeUpstream, "")
		})
	}
}

func TestNextLinkAccepted(t *testing.T) {
	tests := []struct{ name, self, requested, next, want string }{
		{"absolute", "http://src.example/fhir/R4/Patient?x=1", "Patient", "http://src.example/fhir/R4/Patient?x=1&_offset=2", "l:Patient?x=1&_offset=2"},
		{"host case", "http://SRC.example/fhir/R4/Patient", "Patient", "HTTP://src.EXAMPLE/fhir/R4/Patient?p=2", "l:Patient?p=2"},
		{"root-relative", "http://src.example/fhir/R4/Patient", "Patient", "/fhir/R4/Patient?p=2", "l:Patient?p=2"},
		{"scheme-relative", "https://src.example/r4/Patient", "Patient", "//src.example/r4/Patient?p=2", "l:Patient?p=2"},
		{"base at root", "http://src.example/Patient", "Patient", "http://src.example/Patient?p=2", "l:Patient?p=2"},
		{"trailing slashes", "https://g.example/fhir/Patient/", "Patient", "https://g.example/fhir/Patient/?_page_token=Zm9v", "l:Patient/?_page_token=Zm9v"},
		{"relative", "", "Patient", "Patient?p=2", "l:Patient?p=2"},
		{"base with query", "http://src.example/fhir/R4?_getpages=a", "", "http://src.example/fhir/R4?_getpages=a&o=2", "l:?_getpages=a&o=2"},
		{"escapes canonicalised", "", "Patient", "Patient?identifier=http%3A%2F%2Fx%7C1&name=a+b&x=%41", "l:Patient?identifier=http%3A%2F%2Fx%7C1&name=a+b&x=A"},
		{"fragment dropped", "", "Patient", "Patient?p=2#top", "l:Patient?p=2"},
		{"operation", "http://src.example/fhir/Patient/$match", "Patient/$match", "http://src.example/fhir/Patient/$match?page=2", "l:Patient/$match?page=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := linkToken(tt.next, tt.self, tt.requested)
			if err != nil {
				t.Fatal(err)
			}
			if tok.String() != tt.want {
				t.Errorf("token %q, want %q", tok.String(), tt.want)
			}
			back, err := parsePageToken(tok.String())
			if err != nil || !reflect.DeepEqual(back, tok) {
				t.Errorf("token does not parse back: %+v, %v", back, err)
			}
		})
	}
}

func TestLinkTokenRequest(t *testing.T) {
	// A link token is sent as the source wrote it, and the request's own
	// filters and limit are not added again.
	c := configured(t, "")
	tr := answer(200, bundleJSON("", "", -1))
	_, err := c.Search(context.Background(), &connectors.SearchRequest{
		ConnectionID: "c1", Resource: unified.Patients, Params: map[string]string{"name": "x"}, Limit: 7,
		PageToken: "l:Patient?name=a+b&identifier=s%7Cv&_count=2&_offset=2", Transport: tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	req := tr.last(t)
	want := []connectors.Param{{Name: "name", Value: "a b"}, {Name: "identifier", Value: "s|v"}, {Name: "_count", Value: "2"}, {Name: "_offset", Value: "2"}}
	if req.Path != "Patient" || !reflect.DeepEqual(req.Query, want) {
		t.Errorf("request %s %v, want Patient %v", req.Path, req.Query, want)
	}
}

// sandboxTransport is the host transport in miniature over the sandbox
// handler, in-process: it refuses the paths the host refuses, resolves the
// path against the base URL and adds the connection's credentials.
type sandboxTransport struct {
	h      http.Handler
	bearer string
}

func (s *sandboxTransport) Do(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	if strings.Contains(req.Path, ":") || strings.HasPrefix(req.Path, "/") || strings.Contains(req.Path, "..") {
		return nil, connectors.Errorf(connectors.CodeInternal, "transport: path refused")
	}
	target := "http://sandbox.test" + sandbox.Prefix + "/" + req.Path
	if len(req.Query) > 0 {
		target += "?" + encodeParams(req.Query)
	}
	r := httptest.NewRequestWithContext(ctx, req.Method, target, nil)
	for _, h := range req.Header {
		r.Header.Add(h.Name, h.Value)
	}
	if s.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+s.bearer)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	return &connectors.HTTPResponse{Status: rec.Code, Body: rec.Body.Bytes()}, nil
}

// TestAgainstSandbox runs the connector against the sandbox source, with and
// without next links, so both paging styles are exercised end to end.
func TestAgainstSandbox(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     sandbox.Options
		settings string
		allPages bool
	}{
		{"auto with links", sandbox.Options{RequireBearer: "tok"}, `{"paging":"auto"}`, true},
		{"auto without links", sandbox.Options{OmitNextLinks: true}, `{"paging":"auto"}`, true},
		{"offset", sandbox.Options{}, `{"paging":"offset"}`, true},
		{"link without links", sandbox.Options{OmitNextLinks: true}, `{"paging":"link"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sb := sandbox.New(tt.opts)
			tr := &sandboxTransport{h: sb.Handler(), bearer: tt.opts.RequireBearer}
			c := configured(t, tt.settings)
			got, _ := pageAll(t, c, tr, nil, 5)
			want := sb.PatientIDs()
			if !tt.allPages {
				want = want[:5]
			}
			if !slices.Equal(got, want) {
				t.Errorf("paged %v, want %v", got, want)
			}
		})
	}

	sb := sandbox.New(sandbox.Options{})
	tr := &sandboxTransport{h: sb.Handler()}
	c := configured(t, "")
	for _, id := range sb.PatientIDs() {
		resp, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: id, Transport: tr})
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		var p unified.Patient
		if err := json.Unmarshal(resp.Record, &p); err != nil || p.ID != id || len(p.Names) == 0 || p.BirthDate == "" {
			t.Errorf("read %s: %+v %v", id, p, err)
		}
	}
	_, err := c.Read(context.Background(), &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "no-such-patient", Transport: tr})
	wantCode(t, err, connectors.CodeNotFound, "")

	resp, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients,
		Params: map[string]string{"name": "wol", "birth_date": "1913-01-13"}, Limit: 10, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if ids := recordIDs(t, resp); len(ids) != 1 || resp.NextPageToken != "" {
		t.Errorf("search: %v, token %q", ids, resp.NextPageToken)
	}
	// A comma in a name is part of the name, not a list of two.
	resp, err = c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients,
		Params: map[string]string{"name": "wolf,berge"}, Limit: 10, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if ids := recordIDs(t, resp); len(ids) != 0 {
		t.Errorf("search for a name with a comma: %v", ids)
	}
	resp, err = c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients,
		Params: map[string]string{"identifier": "http://hl7.org/fhir/sid/us-ssn|999-77-3783"}, Limit: 10, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if ids := recordIDs(t, resp); len(ids) != 1 || ids[0] != "e7991a49-1512-4005-a478-09ecad76ca4c" {
		t.Errorf("identifier search: %v", ids)
	}
}

func TestConcurrentUse(t *testing.T) {
	// One connector serves many connections and requests at once; run
	// with -race to make this meaningful.
	sb := sandbox.New(sandbox.Options{})
	tr := &sandboxTransport{h: sb.Handler()}
	c := newConnector()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := "c" + itoa(i)
			if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: conn}); err != nil {
				t.Error(err)
				return
			}
			for j := 0; j < 20; j++ {
				if _, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: conn, Resource: unified.Patients, Limit: 3, Transport: tr}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestPatientSearchSubject: with patient_search "subject", resources whose
// patient is their subject are searched by subject=Patient/{id}; the others
// keep their own patient parameter.
func TestPatientSearchSubject(t *testing.T) {
	for _, c := range []struct {
		settings string
		resource unified.ResourceType
		want     string
	}{
		{"", unified.Encounters, "patient=p1"},
		{`{"patient_search":"patient"}`, unified.Encounters, "patient=p1"},
		{`{"patient_search":"subject"}`, unified.Encounters, "subject=Patient%2Fp1"},
		{`{"patient_search":"subject"}`, unified.Appointments, "actor=Patient%2Fp1"},
		{`{"patient_search":"subject"}`, unified.Coverages, "patient=Patient%2Fp1"},
	} {
		conn := configured(t, c.settings)
		tr := answer(200, bundleJSON("", "", 0))
		_, err := conn.Search(context.Background(), &connectors.SearchRequest{
			ConnectionID: "c1", Resource: c.resource, Params: map[string]string{"patient_id": "p1"}, Limit: 5, Transport: tr,
		})
		if err != nil {
			t.Fatalf("%s %s: %v", c.settings, c.resource, err)
		}
		if q := encodeParams(tr.last(t).Query); !strings.Contains(q, c.want) {
			t.Errorf("%s %s: query %s, want %s", c.settings, c.resource, q, c.want)
		}
	}
	c := New()
	_, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "x", Settings: []byte(`{"patient_search":"nope"}`)})
	wantCode(t, err, connectors.CodeInvalidArgument, "settings.patient_search")
}
