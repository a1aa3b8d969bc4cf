package sandbox

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestRewrite(t *testing.T) {
	refs := map[string]string{"urn:uuid:1": "Patient/p1", "Practitioner?identifier=a|b": "Practitioner/d1"}
	ref := func(r string) (string, error) {
		if to, ok := refs[r]; ok {
			return to, nil
		}
		return r, nil
	}
	for _, tt := range []struct{ in, stamp, want string }{
		// Member order and formatting are kept; only reference values change.
		{`{"resourceType":"Observation", "subject" : {"reference": "urn:uuid:1", "display":"urn:uuid:1"}}`, "",
			`{"resourceType":"Observation", "subject" : {"reference": "Patient/p1", "display":"urn:uuid:1"}}`},
		{`{"resourceType":"Encounter","participant":[{"individual":{"reference":"Practitioner?identifier=a|b"}}]}`, "",
			`{"resourceType":"Encounter","participant":[{"individual":{"reference":"Practitioner/d1"}}]}`},
		// An escaped string is read as JSON.
		{`{"a":{"reference":"urn:uuid:\u0031"},"b":"x\"reference\":"}`, "", `{"a":{"reference":"Patient/p1"},"b":"x\"reference\":"}`},
		// The stamp goes into meta, or a new meta at the end.
		{`{"resourceType":"Patient","meta":{"tag":[]}}`, "2020-01-01T00:00:00Z",
			`{"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01T00:00:00Z","tag":[]}}`},
		{`{"resourceType":"Patient","meta": { } }`, "2020-01-01T00:00:00Z",
			`{"resourceType":"Patient","meta": {"lastUpdated":"2020-01-01T00:00:00Z" } }`},
		{"{\n \"resourceType\": \"Patient\"\n}", "2020-01-01T00:00:00Z",
			"{\n \"resourceType\": \"Patient\"\n,\"meta\":{\"lastUpdated\":\"2020-01-01T00:00:00Z\"}}"},
		// A contained resource's meta is not the resource's.
		{`{"contained":[{"meta":{}}],"id":"x"}`, "2020-01-01T00:00:00Z",
			`{"contained":[{"meta":{}}],"id":"x","meta":{"lastUpdated":"2020-01-01T00:00:00Z"}}`},
	} {
		got, err := rewrite([]byte(tt.in), ref, tt.stamp)
		if err != nil || string(got) != tt.want {
			t.Errorf("rewrite(%s)\n got %s, %v\nwant %s", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{`{"meta":"x"}`, `{"a":"unterminated}`} {
		if _, err := rewrite([]byte(in), ref, "2020-01-01T00:00:00Z"); err == nil {
			t.Errorf("rewrite(%s): no error", in)
		}
	}
}

// testFS is a minimal data set: one Patient, and one transaction whose
// entries are given.
func testFS(entries string) fstest.MapFS {
	return fstest.MapFS{
		"data/patients.json":    {Data: []byte(`[{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"}]}]`)},
		"data/synthea/a.json":   {Data: []byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + entries + `]}`)},
		"data/handwritten.json": {Data: []byte(`{"resourceType":"Bundle","type":"transaction","entry":[]}`)},
	}
}

func TestLoad(t *testing.T) {
	s, err := load(testFS(`
		{"fullUrl":"urn:uuid:e1","resource":{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient?identifier=s|1"},"period":{"start":"2001-02-03T04:05:06Z"}}},
		{"fullUrl":"urn:uuid:o1","resource":{"resourceType":"Observation","id":"o1","encounter":{"reference":"urn:uuid:e1"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2005-01-01"}},
		{"fullUrl":"urn:uuid:e1","resource":{"resourceType":"Encounter","id":"e1","subject":{"reference":"nowhere"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"Encounter/e1":   `{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p1"},"period":{"start":"2001-02-03T04:05:06Z"},"meta":{"lastUpdated":"2001-02-03T04:05:06Z"}}`,
		"Observation/o1": `{"resourceType":"Observation","id":"o1","encounter":{"reference":"Encounter/e1"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2005-01-01","meta":{"lastUpdated":"2005-01-01T00:00:00Z"}}`,
		"Patient/p1":     `{"resourceType":"Patient","id":"p1","identifier":[{"system":"s","value":"1"}],"meta":{"lastUpdated":"2005-01-01T00:00:00Z"}}`,
	} {
		if got := string(s.byRef[ref].raw); got != want {
			t.Errorf("%s:\n got %s\nwant %s", ref, got, want)
		}
	}
	if len(s.byType["Encounter"]) != 1 || len(s.recordPatients) != 1 {
		t.Errorf("%d encounters, record patients %v", len(s.byType["Encounter"]), s.recordPatients)
	}

	for _, tt := range []struct{ entries, problem string }{
		{`{"resource":{"resourceType":"Encounter","id":"e1","period":{"start":"2001"},"subject":{"reference":"urn:uuid:nope"}}}`, "resolves to nothing"},
		{`{"resource":{"resourceType":"Encounter","id":"e1","period":{"start":"2001"},"subject":{"reference":"Patient/nope"}}}`, "resolves to nothing"},
		{`{"resource":{"resourceType":"Encounter","id":"e1","period":{"start":"2001"},"subject":{"reference":"Patient?identifier=s|2"}}}`, "matches 0"},
		{`{"resource":{"resourceType":"Encounter","id":"e1","period":{"start":"2001"},"subject":{"reference":"Patient?bogus=1"}}}`, "Unknown search parameter"},
		{`{"resource":{"resourceType":"CarePlan","id":"c1"}}`, "unserved type"},
		{`{"resource":{"resourceType":"Encounter","id":"bad id!"}}`, "valid id"},
		{`{"resource":{"resourceType":"Encounter","id":"e1"}}`, "no resource has a date"},
	} {
		_, err := load(testFS(tt.entries))
		if err == nil || !strings.Contains(err.Error(), tt.problem) {
			t.Errorf("%s: error %v, want %q", tt.entries, err, tt.problem)
		}
	}
}

// TestEmbeddedDataLoads loads the embedded data without the process-wide
// cache, so a broken data file fails here with its error, not with a panic.
func TestEmbeddedDataLoads(t *testing.T) {
	if _, err := load(data); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := load(data); err != nil {
			b.Fatal(err)
		}
	}
}
