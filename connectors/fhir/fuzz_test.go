package fhir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
	gojson "github.com/goccy/go-json"
)

// FuzzMapPatient feeds arbitrary bytes to the Patient mapping, as a source
// could. The mapping must never panic; when it maps, its output must be
// JSON that decodes as a unified.Patient; when it fails, the failure is an
// upstream error. The decoder is checked against encoding/json too: the
// fast decoder must see the same Patient the standard one does, or a
// mapping could silently differ from what the source sent.
//
// The interesting inputs found so far are kept in testdata/fuzz/FuzzMapPatient.
// Run with: go test ./connectors/fhir -run '^$' -fuzz FuzzMapPatient -fuzztime 30s
func FuzzMapPatient(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "patients", "*.txtar"))
	for _, file := range files {
		f.Add(txtar.Parse(readFileF(f, file)).Get("input.json"))
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `"Patient"`, `{"resourceType":"Patient"}`,
		`{"resourceType":"Patient","id":"a","name":[null,{}],"given":null}`,
		`{"resourceType":"Patient","deceasedBoolean":null,"deceasedDateTime":""}`,
		`{"resourceType":"Patient","identifier":[{"value":"1","type":{"coding":[]}},{"value":"2","type":null}]}`,
		`{"resourceType":"Patient","name":[{"given":["a\u0000b","\ud800"]}]}`,
		`{"resourceType":"Patient","birthDate":"<script>&"}`,
		`{"resourceType":"Patient","RESOURCETYPE":"Observation"}`,
		`{"resourceType":"Patient","id":"a"} trailing`,
		`{"resourceType":"Patient","address":[{"line":[1]}]}`,
		`{"resourceType":"Patient","active":"true"}`,
		`{"resourceType":"Patient","extension":[{"url":"x","valueDecimal":1e400}]}`,
		`{"resourceType":"Bundle","type":"searchset","total":2,"entry":[{"resource":{"resourceType":"Patient","id":"a"}},{"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Location","address":{"city":"x"}}},{"resource":{"resourceType":"Patient","id":"b","name":[{"given":["c"]}]}}]}`,
		`{"resourceType":"Bundle","link":[{"relation":"next","url":"Patient?p=2"}],"entry":[{"resource":null},{}]}`,
	} {
		f.Add([]byte(s))
	}
	src := unified.Source{ConnectionID: "c1", System: system}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The standard decoder's view, for the differential check below.
		var std fhirPatient
		stdErr := json.Unmarshal(data, &std)

		var fast fhirPatient
		fastErr := gojson.Unmarshal(data, &fast)
		if (stdErr == nil) != (fastErr == nil) {
			t.Fatalf("decoders disagree on %q: encoding/json %v, go-json %v", data, stdErr, fastErr)
		}
		if stdErr == nil && !reflect.DeepEqual(std, fast) {
			t.Fatalf("decoders decode %q differently:\nencoding/json %+v\ngo-json       %+v", data, std, fast)
		}

		for _, raw := range []bool{false, true} {
			rec, err := patientRecord(data, src, raw, false)
			if err != nil {
				if connectors.CodeOf(err) != connectors.CodeUpstream {
					t.Fatalf("error %v is not an upstream error", err)
				}
				continue
			}
			if !json.Valid(rec) {
				t.Fatalf("output is not JSON: %q", rec)
			}
			var p unified.Patient
			if err := json.Unmarshal(rec, &p); err != nil {
				t.Fatalf("output does not decode as a Patient: %v", err)
			}
			if _, err := json.Marshal(p); err != nil {
				t.Fatalf("decoded output does not encode: %v", err)
			}
			if raw != (len(p.Raw) > 0) {
				t.Fatalf("raw %v, but record has raw %q", raw, p.Raw)
			}
		}
		// In a Bundle, another resource type is skipped, not an error.
		if _, err := patientRecord(data, src, false, true); err != nil && !errors.Is(err, errOtherType) && connectors.CodeOf(err) != connectors.CodeUpstream {
			t.Fatalf("in a bundle: error %v", err)
		}
		// A search answer is as much the source's choice as a read's. The
		// one-pass decoding (without raw) and the entry-by-entry one (with
		// raw) must find the same records.
		plain, _, errPlain := patientPage(data, src, false)
		withRaw, _, errRaw := patientPage(data, src, true)
		for _, err := range []error{errPlain, errRaw} {
			if err != nil && connectors.CodeOf(err) != connectors.CodeUpstream {
				t.Fatalf("searchset: error %v", err)
			}
		}
		if (errPlain == nil) != (errRaw == nil) {
			t.Fatalf("searchset: without raw %v, with raw %v", errPlain, errRaw)
		}
		if len(plain) != len(withRaw) {
			t.Fatalf("searchset: %d records without raw, %d with raw", len(plain), len(withRaw))
		}
		for i := range plain {
			var a, b unified.Patient
			if err := json.Unmarshal(plain[i], &a); err != nil {
				t.Fatalf("searchset record is not JSON: %v", err)
			}
			if err := json.Unmarshal(withRaw[i], &b); err != nil {
				t.Fatalf("searchset record is not JSON: %v", err)
			}
			b.Raw = nil
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("searchset record %d differs without raw:\n%+v\n%+v", i, a, b)
			}
		}
	})
}

// FuzzPageToken checks the page token both ways: a token that parses has
// exactly one spelling and a path the transport accepts; and a next link
// that a source might send, once made a token, parses back to itself.
//
// Run with: go test ./connectors/fhir -run '^$' -fuzz FuzzPageToken -fuzztime 30s
func FuzzPageToken(f *testing.F) {
	for _, s := range []string{
		"o:1", "o:20", "o:1000000000", "o:0", "o:01", "o:-5", "o:1000000001",
		"l:Patient?_count=2&_offset=2", "l:?_getpages=abc&_getpagesoffset=2", "l:Patient/$match?page=2",
		"l:Patient/?_page_token=Zm9v", "l:Patient?name=a+b&identifier=s%7Cv", "l:Patient?a=%7c",
		"l:../x", "l:/x", "l:http://evil.example/x", "l:Patient?", "l:", "x",
		"http://src.example/fhir/R4/Patient?x=1&_offset=2", "/fhir/R4/Patient?p=2", "//evil.example/x",
		"Patient?p=%zz", "http://src.example/fhir/R4/../x", "Patient?identifier=http%3A%2F%2Fx%7C1#f",
	} {
		f.Add(s)
	}
	const self = "http://src.example/fhir/R4/Patient?x=1"
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parsePageToken(s)
		if err != nil {
			var e *connectors.Error
			if !errors.As(err, &e) || e.Code != connectors.CodeInvalidArgument || e.Param != "cursor" {
				t.Fatalf("parse %q: error %v is not a bad cursor", s, err)
			}
		} else {
			checkToken(t, tok)
			if tok.String() != s {
				t.Fatalf("parse %q: encodes back as %q", s, tok.String())
			}
		}

		link, err := linkToken(s, self, "Patient")
		if err != nil {
			if connectors.CodeOf(err) != connectors.CodeUpstream {
				t.Fatalf("link %q: error %v is not an upstream error", s, err)
			}
			if strings.Contains(err.Error(), s) && len(s) > 8 {
				t.Fatalf("link %q: the error repeats the link", s)
			}
			return
		}
		if link.kind != tokenLink {
			t.Fatalf("link %q: token kind %d", s, link.kind)
		}
		checkToken(t, link)
		back, err := parsePageToken(link.String())
		if err != nil {
			t.Fatalf("link %q: token %q does not parse: %v", s, link.String(), err)
		}
		if !reflect.DeepEqual(back, link) {
			t.Fatalf("link %q: token %q parses as %+v, want %+v", s, link.String(), back, link)
		}
	})
}

// checkToken asserts what the transport relies on: a relative path without
// dot segments, and an offset in range.
func checkToken(t *testing.T, tok pageToken) {
	t.Helper()
	switch tok.kind {
	case tokenOffset:
		if tok.offset < 1 || tok.offset > maxOffset {
			t.Fatalf("offset %d out of range", tok.offset)
		}
	case tokenLink:
		if strings.HasPrefix(tok.path, "/") || strings.Contains(tok.path, "//") || strings.Contains(tok.path, ":") ||
			strings.ContainsAny(tok.path, "?#% \\") {
			t.Fatalf("path %q is not a plain relative path", tok.path)
		}
		for _, seg := range strings.Split(tok.path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("path %q has a dot segment", tok.path)
			}
		}
		if len(tok.String()) > maxTokenLen {
			t.Fatalf("token of %d bytes", len(tok.String()))
		}
	default:
		t.Fatalf("token kind %d", tok.kind)
	}
}

func readFileF(f *testing.F, path string) []byte {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
