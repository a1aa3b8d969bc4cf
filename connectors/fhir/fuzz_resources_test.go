package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
)

// FuzzMapResource feeds arbitrary bytes to every registered mapping, as a
// source could: the first byte picks the mapping (modulo their number, in
// the order of their names) and the rest is the source's answer. A mapping
// must never panic; a record must be a JSON object of the mapping's unified
// type, strictly, whose raw (with raw=true) is the source's resource; a
// failure must be an upstream error (or, in a searchset, a skipped entry of
// another type). The page function gets the input both as a search answer
// and wrapped as the one entry of a searchset, and must find the same
// records with raw as without.
//
// The seeds are the golden inputs of every resource, each with the byte
// of its own mapping. Interesting inputs the fuzzer finds are kept in
// testdata/fuzz/FuzzMapResource.
// Run with: go test ./connectors/fhir -run '^$' -fuzz FuzzMapResource -fuzztime 60s
func FuzzMapResource(f *testing.F) {
	resources := mappedResources()
	if len(resources) > 256 {
		f.Fatal("more mappings than one byte can pick")
	}
	for i, r := range resources {
		files, err := filepath.Glob(filepath.Join("testdata", "golden", string(r), "*.txtar"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			in := txtar.Parse(readFileF(f, file)).Get("input.json")
			f.Add(append([]byte{byte(i)}, in...))
		}
		fhirType := resourceMaps[r].fhirType
		for _, s := range []string{
			`{"resourceType":"` + fhirType + `"}`,
			`{"resourceType":"` + fhirType + `","id":"a","meta":{"lastUpdated":7}}`,
			`{"resourceType":"` + fhirType + `","id":"a","subject":{"reference":"Patient/../x"},"extension":[{"url":"x","valueDecimal":1e400}]}`,
			`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"` + fhirType + `","id":"a"}},{"resource":{"resourceType":"Medication","id":"m"},"search":{"mode":"include"}}]}`,
		} {
			f.Add(append([]byte{byte(i)}, s...))
		}
	}
	f.Add([]byte{0})
	f.Add([]byte("\x00null"))
	f.Add([]byte("\x01[]"))

	src := unified.Source{ConnectionID: "c1", System: system}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		m := resourceMaps[resources[int(data[0])%len(resources)]]
		body := data[1:]

		for _, raw := range []bool{false, true} {
			rec, err := m.record(body, src, raw, false)
			if err != nil {
				if connectors.CodeOf(err) != connectors.CodeUpstream {
					t.Fatalf("%s: error %v is not an upstream error", m.resource, err)
				}
				continue
			}
			fuzzCheckRecord(t, m, rec, raw, body)
		}
		// In a searchset, another resource type is skipped, not an error.
		if rec, err := m.record(body, src, false, true); err != nil {
			if !errors.Is(err, errOtherType) && connectors.CodeOf(err) != connectors.CodeUpstream {
				t.Fatalf("%s in a searchset: error %v", m.resource, err)
			}
		} else {
			fuzzCheckRecord(t, m, rec, false, body)
		}

		fuzzCheckPage(t, m, body)
		wrapped := append(append([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":`), body...), "}]}"...)
		fuzzCheckPage(t, m, wrapped)
	})
}

// fuzzCheckRecord checks one record of m: a JSON object that decodes
// strictly as m's unified type and encodes again, with raw exactly when it
// was asked for, and then the same JSON value as the source's resource.
func fuzzCheckRecord(t *testing.T, m *resourceMap, rec []byte, raw bool, body []byte) {
	t.Helper()
	if !json.Valid(rec) || !bytes.HasPrefix(rec, []byte("{")) {
		t.Fatalf("%s: the record is not a JSON object: %q", m.resource, rec)
	}
	v := reflect.New(m.resource.GoType())
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		t.Fatalf("%s: the record does not decode as %s: %v\n%s", m.resource, v.Type().Elem(), err, rec)
	}
	if _, err := json.Marshal(v.Interface()); err != nil {
		t.Fatalf("%s: the decoded record does not encode: %v", m.resource, err)
	}
	gotRaw := v.Elem().FieldByName("Raw").Bytes()
	if raw != (len(gotRaw) > 0) {
		t.Fatalf("%s: raw %v, but the record has raw %q", m.resource, raw, gotRaw)
	}
	if raw && body != nil {
		a, errA := decodeAny(gotRaw)
		b, errB := decodeAny(body)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: raw %q does not round-trip the source's %q (%v, %v)", m.resource, gotRaw, body, errA, errB)
		}
	}
}

// fuzzCheckPage maps body as a search answer, with and without raw.
func fuzzCheckPage(t *testing.T, m *resourceMap, body []byte) {
	t.Helper()
	src := unified.Source{ConnectionID: "c1", System: system}
	plain, pagePlain, errPlain := m.page(body, src, false)
	withRaw, pageRaw, errRaw := m.page(body, src, true)
	for _, err := range []error{errPlain, errRaw} {
		if err != nil && connectors.CodeOf(err) != connectors.CodeUpstream {
			t.Fatalf("%s page: error %v is not an upstream error", m.resource, err)
		}
	}
	if (errPlain == nil) != (errRaw == nil) {
		t.Fatalf("%s page: without raw %v, with raw %v", m.resource, errPlain, errRaw)
	}
	if len(plain) != len(withRaw) || pagePlain.matches != len(plain) || pageRaw.matches != len(withRaw) {
		t.Fatalf("%s page: %d records without raw, %d with (matches %d, %d)", m.resource, len(plain), len(withRaw), pagePlain.matches, pageRaw.matches)
	}
	if !slices.Equal([]string{pagePlain.next, pagePlain.self}, []string{pageRaw.next, pageRaw.self}) {
		t.Fatalf("%s page: links differ with raw", m.resource)
	}
	for i := range plain {
		fuzzCheckRecord(t, m, plain[i], false, nil)
		fuzzCheckRecord(t, m, withRaw[i], true, nil)
		a, errA := decodeAny(plain[i])
		b, errB := decodeAny(withoutRawBytes(withRaw[i]))
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("%s page: record %d differs with raw:\n%s\n%s", m.resource, i, plain[i], withRaw[i])
		}
	}
}

// withoutRawBytes returns a record without its raw member, or nil.
func withoutRawBytes(rec []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(rec, &m) != nil {
		return nil
	}
	delete(m, "raw")
	b, _ := json.Marshal(m)
	return b
}
