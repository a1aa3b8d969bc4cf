package proxy

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

const keyPassthrough = "key-passthrough-app"

// withMoreClients adds a second client of tenant demo with access to both
// demo connections and the passthrough scope, and gives demo-app demo2.
func withMoreClients(c map[string]any) {
	c["clients"] = append(c["clients"].([]any), map[string]any{
		"id": "pass-app", "tenant": "demo", "api_key_sha256": sha(keyPassthrough),
		"connections": []string{"demo", "demo2"}, "scopes": []string{"read", "passthrough"},
	})
	c["clients"].([]any)[0].(map[string]any)["connections"] = []string{"demo", "demo2"}
}

func decodeList[T any](t *testing.T, r result) unified.List[T] {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var l unified.List[T]
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("list: %v: %s", err, r.body)
	}
	return l
}

func problemOf(t *testing.T, r result) unified.Problem {
	t.Helper()
	var p unified.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem: %v: %s", err, r.body)
	}
	return p
}

// TestCursorPaging follows cursors to the end: every patient once, no
// cursor revealing the search, and the filters carried by the cursor alone.
func TestCursorPaging(t *testing.T) {
	e := start(t, nil)
	for _, limit := range []string{"1", "5", "12", "200"} {
		var ids []string
		path := "/v1/demo/patients?limit=" + limit
		pages := 0
		for {
			l := decodeList[unified.Patient](t, e.do(t, "GET", path, keyDemo, nil))
			pages++
			for _, p := range l.Data {
				ids = append(ids, p.ID)
			}
			if l.NextCursor == "" {
				break
			}
			if pages > 20 {
				t.Fatal("paging does not end")
			}
			path = "/v1/demo/patients?cursor=" + url.QueryEscape(l.NextCursor)
		}
		want := append([]string(nil), e.sb.PatientIDs()...)
		got := append([]string(nil), ids...)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("limit %s: got %v, want %v", limit, ids, want)
		}
	}

	// A filtered search: the cursor carries the filter, sealed.
	first := decodeList[unified.Patient](t, e.do(t, "GET", "/v1/demo/patients?limit=1&birth_date=1900-01-01", keyDemo, nil))
	if len(first.Data) != 0 || first.NextCursor != "" {
		t.Fatalf("a search that matches nobody answered %+v", first)
	}
	all := decodeList[unified.Patient](t, e.do(t, "GET", "/v1/demo/patients?limit=200", keyDemo, nil))
	family := all.Data[0].Names[0].Family
	l := decodeList[unified.Patient](t, e.do(t, "GET", "/v1/demo/patients?limit=1&name="+url.QueryEscape(family), keyDemo, nil))
	if l.NextCursor != "" && strings.Contains(l.NextCursor, family) {
		t.Fatal("cursor reveals the name searched for")
	}
}

// TestCursorRefused: a cursor continues only its own search, for its own
// client, connection and resource, until it expires.
func TestCursorRefused(t *testing.T) {
	e := start(t, func(c map[string]any) {
		withMoreClients(c)
		c["cursor"] = map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "literal:cursor-secret-0123456789abcdef0123456789"}}, "ttl": "2s"}
	})
	l := decodeList[unified.Patient](t, e.do(t, "GET", "/v1/demo/patients?limit=2&fields=names", keyDemo, nil))
	if l.NextCursor == "" {
		t.Fatal("no cursor")
	}
	cur := url.QueryEscape(l.NextCursor)
	ok := e.do(t, "GET", "/v1/demo/patients?cursor="+cur+"&limit=2&fields=names", keyDemo, nil)
	if ok.status != 200 {
		t.Fatalf("same search repeated with its cursor: %d %s", ok.status, ok.body)
	}
	page := decodeList[map[string]any](t, ok)
	for _, rec := range page.Data {
		if len(rec) != 2 || rec["id"] == nil || rec["names"] == nil {
			t.Fatalf("the cursor's field mask was not applied: %v", rec)
		}
	}
	tampered := []byte(l.NextCursor)
	tampered[len(tampered)/2] ^= 1
	for _, c := range []struct {
		name, path, key string
		detail          string
	}{
		{"other client", "/v1/demo/patients?cursor=" + cur, keyPassthrough, ""},
		{"other connection", "/v1/demo2/patients?cursor=" + cur, keyDemo, ""},
		{"other resource", "/v1/demo/practitioners?cursor=" + cur, keyDemo, ""},
		{"other limit", "/v1/demo/patients?limit=3&cursor=" + cur, keyDemo, "limit"},
		{"other filter", "/v1/demo/patients?name=x&cursor=" + cur, keyDemo, "name"},
		{"other mask", "/v1/demo/patients?fields=gender&cursor=" + cur, keyDemo, "fields"},
		{"tampered", "/v1/demo/patients?cursor=" + url.QueryEscape(string(tampered)), keyDemo, ""},
	} {
		r := e.do(t, "GET", c.path, c.key, nil)
		if p := problemOf(t, r); r.status != 400 || p.Code != unified.CodeInvalidCursor || p.Detail != c.detail {
			t.Errorf("%s: %d %+v, want 400 invalid_cursor %q", c.name, r.status, p, c.detail)
		}
	}
	time.Sleep(2100 * time.Millisecond)
	r := e.do(t, "GET", "/v1/demo/patients?cursor="+cur, keyDemo, nil)
	if p := problemOf(t, r); r.status != 400 || p.Code != unified.CodeInvalidCursor {
		t.Errorf("expired cursor: %d %+v", r.status, p)
	}
}

// TestFieldMask: the host applies the mask, on reads and searches, to
// whatever the connector answered; id always stays.
func TestFieldMask(t *testing.T) {
	e := start(t, nil)
	l := decodeList[map[string]any](t, e.do(t, "GET", "/v1/demo/patients?limit=3&fields=gender,birth_date,gender", keyDemo, nil))
	for _, rec := range l.Data {
		for k := range rec {
			if k != "id" && k != "gender" && k != "birth_date" {
				t.Fatalf("field %q survived the mask: %v", k, rec)
			}
		}
		if rec["id"] == nil || rec["gender"] == nil {
			t.Fatalf("masked record lost a field: %v", rec)
		}
	}
	id := e.sb.PatientIDs()[0]
	r := e.do(t, "GET", "/v1/demo/patients/"+id+"?fields=source&raw=true", keyDemo, nil)
	var rec map[string]any
	if err := json.Unmarshal(r.body, &rec); err != nil || len(rec) != 2 || rec["source"] == nil {
		t.Fatalf("read with mask (raw asked, not in mask): %s", r.body)
	}
}

func TestCapabilities(t *testing.T) {
	e := start(t, withMoreClients)
	for _, c := range []struct {
		key         string
		passthrough bool
	}{{keyDemo, false}, {keyPassthrough, true}} {
		r := e.do(t, "GET", "/v1/demo/capabilities", c.key, nil)
		var caps unified.Capabilities
		if r.status != 200 || json.Unmarshal(r.body, &caps) != nil {
			t.Fatalf("capabilities: %d %s", r.status, r.body)
		}
		if caps.ConnectionID != "demo" || caps.Connector.Kind != "fhir" || caps.Passthrough != c.passthrough {
			t.Fatalf("capabilities header: %+v", caps)
		}
		var patients *unified.ResourceCapabilities
		for i := range caps.Resources {
			if caps.Resources[i].Resource == unified.Patients {
				patients = &caps.Resources[i]
			}
		}
		if patients == nil || !patients.Read || !patients.Search || len(patients.Filters) == 0 {
			t.Fatalf("patients capability: %+v", patients)
		}
		for _, f := range patients.Filters {
			if f.Name == unified.FilterUpdatedGTE && (f.Kind != unified.FilterDate || f.Description == "") {
				t.Fatalf("standard filter described wrongly: %+v", f)
			}
		}
	}
	if r := e.do(t, "GET", "/v1/other/capabilities", keyDemo, nil); r.status != 404 {
		t.Fatalf("another tenant's capabilities: %d", r.status)
	}
}

func TestPassthrough(t *testing.T) {
	e := start(t, withMoreClients)
	id := e.sb.PatientIDs()[0]
	r := e.do(t, "GET", "/v1/demo/passthrough/Patient/"+id, keyPassthrough, nil, "Accept", "application/fhir+json")
	var res map[string]any
	if r.status != 200 || json.Unmarshal(r.body, &res) != nil || res["resourceType"] != "Patient" || res["id"] != id {
		t.Fatalf("passthrough read: %d %s", r.status, r.body)
	}
	if !strings.Contains(r.header.Get("Content-Type"), "json") || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("passthrough headers: %v", r.header)
	}
	// The query is relayed as given.
	r = e.do(t, "GET", "/v1/demo/passthrough/Patient?_count=2", keyPassthrough, nil)
	if r.status != 200 || json.Unmarshal(r.body, &res) != nil || len(res["entry"].([]any)) != 2 {
		t.Fatalf("passthrough search: %d %s", r.status, r.body)
	}
	// The source's own errors come back as they are (it is the source's
	// answer the client asked for).
	r = e.do(t, "GET", "/v1/demo/passthrough/Patient/no-such-patient", keyPassthrough, nil)
	if r.status != 404 || strings.Contains(r.header.Get("Content-Type"), "problem") {
		t.Fatalf("source 404 not relayed: %d %s", r.status, r.body)
	}
	for _, bad := range []string{
		"/v1/demo/passthrough/..%2F..%2Fetc/passwd",
		"/v1/demo/passthrough/Patient/%2e%2e/%2e%2e/x",
		"/v1/demo/passthrough/http:%2F%2Fevil.example/x",
		"/v1/demo/passthrough//evil.example/x",
	} {
		r := e.do(t, "GET", bad, keyPassthrough, nil)
		if r.status != 400 && r.status != 404 {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
	if r := e.do(t, "TRACE", "/v1/demo/passthrough/Patient", keyPassthrough, nil); r.status != 405 {
		t.Errorf("TRACE: %d", r.status)
	}
	for _, ev := range e.audit.events(t) {
		if s, _ := json.Marshal(ev); strings.Contains(string(s), id) || strings.Contains(string(s), "Patient") {
			t.Fatalf("audit event carries the passthrough path: %s", s)
		}
	}
	evs := e.audit.events(t)
	if evs[0]["action"] != "passthrough" || evs[0]["route"] != routePassthrough {
		t.Fatalf("passthrough event: %v", evs[0])
	}
}
