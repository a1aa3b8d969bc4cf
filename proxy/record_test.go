package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// refCheckRecord is the two-pass check checkRecord replaced (json.Valid,
// then a decode of the id, then a token-by-token field mask), kept as the
// reference the single pass is compared with. Its id test is looser than
// checkRecord's (it reads only the last member named id, in any case, and
// not only "id"), so the comparison allows checkRecord to refuse more, never
// less.
func refCheckRecord(b []byte, wantID string, fields []string) ([]byte, bool) {
	if len(b) < 2 || b[0] != '{' || !json.Valid(b) {
		return nil, false
	}
	if wantID != "" {
		var head struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(b, &head) != nil || head.ID != wantID {
			return nil, false
		}
	}
	if fields == nil {
		return b, true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	out := []byte{'{'}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if _, keep := slices.BinarySearch(fields, key); !keep {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		k, _ := json.Marshal(key)
		out = append(append(append(out, k...), ':'), v...)
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return append(out, '}'), true
}

var recordSeeds = []string{
	`{}`, `{ }`, `{"id":"p1"}`, `{"id":"p1","name":"x","birth_date":"2000-01-01"}`,
	`{"id":"p2"}`, `{"id":1}`, `{"ID":"p1"}`, `{"Id":"p1","id":"p1"}`, `{"id":"p1","ID":"p2"}`,
	`{"id":"p\u0031"}`, `{"i\u0064":"p1"}`, `{"id":"p1"} `, `{"id":"p1"}x`, `{"id":"p1"}{}`,
	`{"id":"p1",}`, `{"id" "p1"}`, `{"a":[1,2,{"b":null}],"id":"p1","c":true,"d":false}`,
	`{"n":-0.5e+10}`, `{"n":01}`, `{"n":1.}`, `{"n":-}`, `{"n":1e}`, `{"s":"\x01"}`, `{"s":"\q"}`,
	`{"s":"\u12"}`, `{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9"}`, `{"a":tru}`, `{"a":nul}`, `[1]`, `"x"`,
	`{"a":[]}`, `{"a":[,]}`, `{"a":{}}`, `{"a":{"b":1,}}`, `{"a":"` + "\xff" + `"}`, "{\"a\":1}\n",
	`{"a":1` + "\t\r\n" + `}`, `{"a":[1 2]}`, `{"<b>":1,"id":"p1"}`, `{"data":[{"id":"x"}],"id":"p1"}`,
	`{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	`{"a":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}`,
	`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

var recordMasks = [][]string{nil, {}, {"id"}, {"a", "id", "name"}, {"<b>", "s"}}

// compareRecord fails t if checkRecord and the reference disagree in a way
// checkRecord must not: accepting what the reference refuses, refusing a
// valid record whose id test is unambiguous, or masking differently.
func compareRecord(t *testing.T, b []byte, wantID string, fields []string) {
	t.Helper()
	got, ok := checkRecord(b, wantID, fields)
	want, wok := refCheckRecord(b, wantID, fields)
	if ok && !wok {
		t.Fatalf("checkRecord(%q, %q, %q) accepted what the two-pass check refuses", b, wantID, fields)
	}
	if !ok && wok {
		// Allowed only for the stricter id rule.
		var m map[string]json.RawMessage
		if wantID == "" || json.Unmarshal(b, &m) != nil {
			t.Fatalf("checkRecord(%q, %q, %q) refused a valid record", b, wantID, fields)
		}
		ids := 0
		for k := range m {
			if strings.EqualFold(k, "id") {
				ids++
			}
		}
		if string(m["id"]) == `"`+wantID+`"` && ids == 1 && bytes.Count(b, []byte(`"id"`)) <= 1 && !bytes.Contains(b, []byte(`\`)) {
			t.Fatalf("checkRecord(%q, %q, %q) refused a record with one plain id", b, wantID, fields)
		}
		return
	}
	if !ok {
		return
	}
	if fields == nil {
		if !bytes.Equal(got, b) {
			t.Fatalf("checkRecord(%q) changed an unmasked record to %q", b, got)
		}
		return
	}
	// Keys may be quoted differently (the reference re-encodes them): compare
	// the members, in order.
	if !reflect.DeepEqual(members(t, got), members(t, want)) {
		t.Fatalf("checkRecord(%q, %q) masked to %s, the two-pass check to %s", b, fields, got, want)
	}
}

func members(t *testing.T, b []byte) [][2]string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	var out [][2]string
	for dec.More() {
		k, _ := dec.Token()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		out = append(out, [2]string{k.(string), string(v)})
	}
	return out
}

func TestCheckRecord(t *testing.T) {
	for _, s := range recordSeeds {
		for _, id := range []string{"", "p1"} {
			for _, f := range recordMasks {
				compareRecord(t, []byte(s), id, f)
			}
		}
	}
	for _, c := range []struct {
		rec, id string
		ok      bool
	}{
		{`{"id":"p1"}`, "p1", true},
		{`{"id":"p\u0031"}`, "p1", true},
		{`{"id":"p2"}`, "p1", false},
		{`{"name":"x"}`, "p1", false},
		{`{"ID":"p1"}`, "p1", false},
		{`{"id":"p1","ID":"p2"}`, "p1", false},
		{`{"id":"p1","id":"p2"}`, "p1", false},
		{`{"id":"p2","id":"p1"}`, "p1", false},
		{`{"id":["p1"]}`, "p1", false},
		{`{"id":"p1"}{"id":"p1"}`, "p1", false},
		{` {"id":"p1"}`, "p1", false},
	} {
		if _, ok := checkRecord([]byte(c.rec), c.id, nil); ok != c.ok {
			t.Errorf("checkRecord(%s, %q) = %v, want %v", c.rec, c.id, ok, c.ok)
		}
	}
}

func TestCheckRecordAllocs(t *testing.T) {
	rec := []byte(`{"id":"p1","name":{"family":"X","given":["A","B"]},"birth_date":"2000-01-01","n":[1,2.5,-3e2,true,false,null]}`)
	if n := testing.AllocsPerRun(100, func() { checkRecord(rec, "p1", nil) }); n != 0 {
		t.Errorf("checkRecord allocates %v times without a mask, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { checkRecord(rec, "p1", []string{"id", "name"}) }); n != 1 {
		t.Errorf("checkRecord allocates %v times with a mask, want 1", n)
	}
}

func FuzzCheckRecord(f *testing.F) {
	for _, s := range recordSeeds {
		f.Add([]byte(s), "p1", "id,name")
	}
	f.Fuzz(func(t *testing.T, b []byte, wantID, mask string) {
		var fields []string
		if mask != "-" {
			fields = strings.Split(mask, ",")
			slices.Sort(fields)
		}
		compareRecord(t, b, wantID, fields)
		compareRecord(t, b, "", fields)
	})
}

func BenchmarkCheckRecord(b *testing.B) {
	rec := []byte(`{"id":"obs-1","status":"final","category":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital signs"}],"code":{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"},"value":{"type":"quantity","quantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}},"effective_at":"2020-01-01T00:00:00Z","patient_id":"p1","updated_at":"2020-01-01T00:00:00Z","source":{"connection_id":"c1","system":"fhir","source_id":"obs-1","fetched_at":"2026-01-01T00:00:00Z"}}`)
	b.Run("single-pass", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		for b.Loop() {
			checkRecord(rec, "obs-1", nil)
		}
	})
	b.Run("two-pass", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		for b.Loop() {
			refCheckRecord(rec, "obs-1", nil)
		}
	})
}
