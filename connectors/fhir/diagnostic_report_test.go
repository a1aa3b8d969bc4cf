package fhir

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestDiagnosticReportCapability(t *testing.T) {
	careCapability(t, unified.DiagnosticReports,
		[]string{"patient_id", "code", "category", "status", "date_gte", "date_lt", "updated_gte", "sort"},
		[]string{"patient_id"})
}

func TestDiagnosticReportSearch(t *testing.T) {
	params := careAllFilters("http://loinc.org|57698-3", "http://terminology.hl7.org/CodeSystem/v2-0074|LAB", "final")
	careWantQuery(t, unified.DiagnosticReports, params, "DiagnosticReport",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "code", Value: "http://loinc.org|57698-3"},
		connectors.Param{Name: "category", Value: "http://terminology.hl7.org/CodeSystem/v2-0074|LAB"},
		connectors.Param{Name: "status", Value: "final"},
		connectors.Param{Name: "date", Value: "ge2020-01"},
		connectors.Param{Name: "date", Value: "lt2021-03-04T05:06:07Z"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-05-06"},
	)
	careRefusals(t, unified.DiagnosticReports)
}

// reportText is the content of a rendered report, which must never reach
// the unified record.
const reportText = "FINAL PATHOLOGY REPORT\n" + phiMarker + " melanoma in situ, margins clear.\n"

func TestDiagnosticReportPresentedFormNotCopied(t *testing.T) {
	data := base64.StdEncoding.EncodeToString([]byte(reportText))
	body := `{"resourceType":"DiagnosticReport","id":"r1","status":"final","code":{"text":"Pathology"},
		"presentedForm":[
			{"contentType":"text/plain","data":"` + data + `","title":"Report","size":61},
			{"contentType":"application/pdf","url":"Binary/b1","hash":"2jmj7l5rSw0yVb/vlWAYkK/YBwk="},
			{"url":"https://other.example/Binary/b2"},
			{"extension":[{"url":"x","valueString":"y"}]}
		]}`
	want := []unified.Attachment{
		{ContentType: "text/plain", Title: "Report", Size: careInt64(61), Inline: true},
		{ContentType: "application/pdf", Hash: "2jmj7l5rSw0yVb/vlWAYkK/YBwk=", PassthroughPath: "Binary/b1"},
	}
	for _, raw := range []bool{false, true} {
		rec, err := resourceMaps[unified.DiagnosticReports].record([]byte(body), goldenSource, raw, false)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := resourceMaps[unified.DiagnosticReports].page([]byte(bundleJSON("", "", -1, matchEntry(body))), goldenSource, raw)
		if err != nil || len(recs) != 1 {
			t.Fatalf("page: %d records, %v", len(recs), err)
		}
		for _, out := range [][]byte{rec, recs[0]} {
			var r unified.DiagnosticReport
			mustDecode(t, out, &r)
			if !reflect.DeepEqual(r.PresentedForms, want) {
				t.Errorf("presented forms %+v, want %+v", r.PresentedForms, want)
			}
			r.Raw = nil
			assertNoContent(t, mustEncode(t, r), data, reportText)
		}
	}
}

func TestDiagnosticReportFields(t *testing.T) {
	r := careMap[unified.DiagnosticReport](t, unified.DiagnosticReports, `{"resourceType":"DiagnosticReport","id":"r1",
		"meta":{"lastUpdated":"2024-01-02T03:04:05Z"},
		"identifier":[{"system":"urn:lab","value":"A1"}],
		"subject":{"reference":"Device/d1"},
		"encounter":{"reference":"Encounter/e1"},
		"effectivePeriod":{"start":"2024-01-01","end":"2024-01-02"},
		"performer":[{"reference":"Organization/lab"},{"reference":"#x"}],
		"resultsInterpreter":[{"reference":"Practitioner/dr1"}],
		"result":[{"reference":"Observation/o1"},{"reference":"Observation/o2/_history/2"},{"reference":"urn:uuid:x"}],
		"specimen":[{"reference":"Specimen/s1"}],
		"conclusionCode":[{}]}`)
	want := unified.DiagnosticReport{
		ID: "r1", Identifiers: []unified.Identifier{{System: "urn:lab", Value: "A1"}},
		Encounter:       &unified.Reference{Resource: unified.Encounters, ID: "e1"},
		EffectivePeriod: &unified.Period{Start: "2024-01-01", End: "2024-01-02"},
		Performers:      []unified.Reference{{Resource: unified.Organizations, ID: "lab"}},
		Results:         []unified.Reference{{Resource: unified.Observations, ID: "o1"}, {Resource: unified.Observations, ID: "o2"}},
		UpdatedAt:       "2024-01-02T03:04:05Z",
		Source:          r.Source,
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
}

func careInt64(v int64) *int64 { return &v }

// mustDecode decodes a record strictly: a field the unified type does not
// have is an error.
func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func mustEncode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertNoContent fails when out holds the content, encoded or not, or any
// of its lines long enough to be more than a date.
func assertNoContent(t *testing.T, out, encoded, text string) {
	t.Helper()
	if strings.Contains(out, encoded) || strings.Contains(out, phiMarker) {
		t.Fatalf("the content reached the record: %s", out)
	}
	for _, line := range strings.Split(text, "\n") {
		if len(line) > 12 && strings.Contains(out, line) {
			t.Fatalf("%q of the content reached the record: %s", line, out)
		}
	}
}
