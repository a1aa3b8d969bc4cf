package proxy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

// Pseudonyms over the sandbox's Synthea data: a pseudonymized client
// reads, searches and pages through every resource with pseudonyms only,
// the source is asked with the real ids (the answers match an ordinary
// client's), another client's pseudonyms fail, and no real id or
// identifier value reaches the pseudonymized client (a canary over every
// id the source holds). Run alone: go test ./proxy -run Pseudonym

const (
	keyResearch  = "key-research"
	keyResearch2 = "key-research-2"
)

type anyPage struct {
	Data []map[string]any `json:"data"`
	Next string           `json:"next_cursor"`
}

// searchAll pages through a search, returning every record and every raw
// body; ok is false when the resource cannot be searched so.
func (e *env) searchAll(t *testing.T, key, resource, query string) ([]map[string]any, []string, bool) {
	t.Helper()
	var recs []map[string]any
	var bodies []string
	path := "/v1/demo/" + resource + "?limit=50" + query
	for i := 0; i < 100; i++ {
		r := e.do(t, "GET", path, key, nil)
		if r.status == 400 && i == 0 {
			return nil, nil, false
		}
		var p anyPage
		if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
			t.Fatalf("%s %s: %d %s", key, path, r.status, r.body)
		}
		recs, bodies = append(recs, p.Data...), append(bodies, string(r.body))
		if p.Next == "" {
			return recs, bodies, true
		}
		path = "/v1/demo/" + resource + "?cursor=" + url.QueryEscape(p.Next)
	}
	t.Fatalf("%s: too many pages", resource)
	return nil, nil, false
}

func TestPseudonymsCanary(t *testing.T) {
	e := start(t, func(c map[string]any) {
		c["clients"] = append(c["clients"].([]any),
			map[string]any{"id": "research", "tenant": "demo", "api_key_sha256": sha(keyResearch), "connections": []string{"demo"},
				"policy": map[string]any{"pseudonyms": map[string]any{"identifiers": "tokenize"}}},
			map[string]any{"id": "research-2", "tenant": "demo", "api_key_sha256": sha(keyResearch2), "connections": []string{"demo"},
				"policy": map[string]any{"pseudonyms": map[string]any{}}},
		)
	})
	// The canaries: every id the source holds, and every identifier value
	// an ordinary client sees.
	var canaries []string
	for _, typ := range e.sb.ResourceTypes() {
		canaries = append(canaries, e.sb.IDs(typ)...)
	}
	realPatients := e.sb.RecordPatientIDs()

	pats, bodies, _ := e.searchAll(t, keyResearch, "patients", "")
	var tokens []string
	for _, p := range pats {
		tokens = append(tokens, p["id"].(string))
	}
	if len(tokens) != len(e.sb.PatientIDs()) {
		t.Fatalf("%d patients for the pseudonymized client, the source has %d", len(tokens), len(e.sb.PatientIDs()))
	}
	seen := 0
	for _, pt := range tokens {
		r := e.do(t, "GET", "/v1/demo/patients/"+pt, keyResearch, nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"id":"`+pt+`"`) {
			t.Fatalf("read by pseudonym: %d %s", r.status, r.body)
		}
		bodies = append(bodies, string(r.body))
		if r := e.do(t, "GET", "/v1/demo/patients/"+pt, keyResearch2, nil); r.status != 404 {
			t.Fatalf("another client's pseudonym: %d %s", r.status, r.body)
		}
		for _, rt := range unified.ResourceTypes() {
			if rt == unified.Patients {
				continue
			}
			recs, bs, ok := e.searchAll(t, keyResearch, string(rt), "&patient_id="+url.QueryEscape(pt))
			if !ok {
				continue
			}
			bodies = append(bodies, bs...)
			seen += len(recs)
			for _, rec := range recs {
				if r := e.do(t, "GET", "/v1/demo/"+string(rt)+"/"+rec["id"].(string), keyResearch, nil); r.status == 200 {
					bodies = append(bodies, string(r.body))
				} else if r.status != 400 { // a resource without reads by id
					t.Fatalf("read %s by pseudonym: %d %s", rt, r.status, r.body)
				}
			}
		}
	}
	// The source was asked with the real ids: the answers match an
	// ordinary client's, record for record.
	want := 0
	for _, p := range realPatients {
		for _, rt := range unified.ResourceTypes() {
			if rt == unified.Patients {
				continue
			}
			recs, bs, ok := e.searchAll(t, keyDemo, string(rt), "&patient_id="+p)
			if !ok {
				continue
			}
			want += len(recs)
			for _, b := range bs {
				var pg anyPage
				_ = json.Unmarshal([]byte(b), &pg)
				for _, rec := range pg.Data {
					canaries = append(canaries, identifierValues(rec)...)
				}
			}
		}
	}
	if want == 0 || seen != want {
		t.Fatalf("the pseudonymized client saw %d records, an ordinary client %d", seen, want)
	}
	all := strings.Join(bodies, "\n")
	for _, c := range canaries {
		if len(c) >= 6 && strings.Contains(all, c) {
			t.Fatalf("a real id or identifier value reached the pseudonymized client: %q", c)
		}
	}
	if !strings.Contains(all, `"identifiers"`) {
		t.Fatal("tokenize kept no identifiers")
	}
	// drop: no identifiers at all.
	if r := e.do(t, "GET", "/v1/demo/patients?limit=5", keyResearch2, nil); strings.Contains(string(r.body), `"identifiers"`) {
		t.Fatalf("drop kept identifiers: %s", r.body)
	}
	for name, path := range map[string]string{
		"raw":         "/v1/demo/patients?raw=true",
		"passthrough": "/v1/demo/passthrough/Patient",
	} {
		if r := e.do(t, "GET", path, keyResearch, nil); r.status != 403 {
			t.Fatalf("%s for a pseudonymized client: %d %s", name, r.status, r.body)
		}
	}
}

func identifierValues(v any) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		if ids, ok := t["identifiers"].([]any); ok {
			for _, x := range ids {
				if m, ok := x.(map[string]any); ok {
					if s, ok := m["value"].(string); ok {
						out = append(out, s)
					}
				}
			}
		}
		for _, x := range t {
			out = append(out, identifierValues(x)...)
		}
	case []any:
		for _, x := range t {
			out = append(out, identifierValues(x)...)
		}
	}
	return out
}
