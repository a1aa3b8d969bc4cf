package fhir

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
	gojson "github.com/goccy/go-json"
)

// The helpers below serve the tests of the clinical resources mapped in
// observation.go, condition.go, allergy.go and immunization.go.

// clinicalSearch runs a search of resource with params and a limit of 5
// against a source that answers body, and returns the request the connector
// sent and its answer. A refused search returns its error and must send
// nothing.
func clinicalSearch(t *testing.T, resource unified.ResourceType, params map[string]string, raw bool, body string) (*connectors.HTTPRequest, *connectors.SearchResponse, error) {
	t.Helper()
	c := configured(t, "")
	tr := answer(200, body)
	resp, err := c.Search(context.Background(), &connectors.SearchRequest{
		ConnectionID: "c1", Resource: resource, Params: params, Limit: 5, Raw: raw, Transport: tr,
	})
	if err != nil {
		if len(tr.reqs) != 0 {
			t.Errorf("a request was sent for a refused %s search", resource)
		}
		return nil, nil, err
	}
	return tr.last(t), resp, nil
}

// clinicalWantQuery checks that a search of resource with params sends path
// with query, the page size last.
func clinicalWantQuery(t *testing.T, resource unified.ResourceType, params map[string]string, path string, query ...connectors.Param) {
	t.Helper()
	req, _, err := clinicalSearch(t, resource, params, false, bundleJSON("", "", 0))
	if err != nil {
		t.Fatalf("search %s %v: %v", resource, params, err)
	}
	want := append(query, connectors.Param{Name: "_count", Value: "5"})
	if req.Path != path || !reflect.DeepEqual(req.Query, want) {
		t.Errorf("search %s %v sent %s %v, want %s %v", resource, params, req.Path, req.Query, path, want)
	}
}

// clinicalWantRefused checks that a search of resource with params is
// refused with code for param, before anything is sent.
func clinicalWantRefused(t *testing.T, resource unified.ResourceType, params map[string]string, code connectors.ErrorCode, param string) {
	t.Helper()
	_, _, err := clinicalSearch(t, resource, params, false, bundleJSON("", "", 0))
	wantCode(t, err, code, param)
}

// clinicalCapability checks the manifest entry of resource.
func clinicalCapability(t *testing.T, resource unified.ResourceType, params, required []string) {
	t.Helper()
	m, err := New().Metadata(context.Background(), &connectors.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rc, ok := m.Resource(resource)
	if !ok || !rc.Read || !rc.Search {
		t.Fatalf("%s capability %+v", resource, rc)
	}
	if !slices.Equal(rc.SearchParams, params) || !slices.Equal(rc.RequiredParams, required) {
		t.Errorf("%s params %v required %v, want %v required %v", resource, rc.SearchParams, rc.RequiredParams, params, required)
	}
}

// clinicalMap maps one resource as a read of it would, and decodes the
// result.
func clinicalMap[U any](t *testing.T, resource unified.ResourceType, body string) U {
	t.Helper()
	rec, err := resourceMaps[resource].record([]byte(body), goldenSource, false, false)
	if err != nil {
		t.Fatalf("mapping %s: %v", body, err)
	}
	var u U
	if err := json.Unmarshal(rec, &u); err != nil {
		t.Fatalf("mapped %s is not a %T: %v", rec, u, err)
	}
	return u
}

// clinicalMapJSON maps one resource and returns its record as JSON with
// the source left out, in clinicalCanon's form, for tests that compare the
// whole output.
func clinicalMapJSON(t *testing.T, resource unified.ResourceType, body string) string {
	t.Helper()
	rec, err := resourceMaps[resource].record([]byte(body), goldenSource, false, false)
	if err != nil {
		t.Fatalf("mapping %s: %v", body, err)
	}
	var m map[string]any
	if err := json.Unmarshal(rec, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "source")
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return clinicalCanon(t, string(b))
}

// clinicalCanon re-encodes JSON with sorted keys and no HTML escapes, so
// that two encodings compare by content, not by the encoder's choices.
func clinicalCanon(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %s: %v", s, err)
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// clinicalFuzz feeds arbitrary bytes to the mapping of resource, whose
// decoding struct is F and unified type U, as a source could: the golden
// inputs of the resource and seeds. The mapping must never panic; a
// mapped record decodes as U, a failure is an upstream error. As in
// FuzzMapPatient, encoding/json and the fast decoder must see the same F,
// and a searchset must give the same records with and without raw.
func clinicalFuzz[F any, U any](f *testing.F, resource unified.ResourceType, seeds ...string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", string(resource), "*.txtar"))
	for _, file := range files {
		f.Add(txtar.Parse(readFileF(f, file)).Get("input.json"))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	m := resourceMaps[resource]
	src := unified.Source{ConnectionID: "c1", System: system}
	f.Fuzz(func(t *testing.T, data []byte) {
		var std, fast F
		stdErr := json.Unmarshal(data, &std)
		fastErr := gojson.Unmarshal(data, &fast)
		if (stdErr == nil) != (fastErr == nil) {
			t.Fatalf("decoders disagree on %q: encoding/json %v, go-json %v", data, stdErr, fastErr)
		}
		if stdErr == nil && !reflect.DeepEqual(std, fast) {
			t.Fatalf("decoders decode %q differently:\nencoding/json %+v\ngo-json       %+v", data, std, fast)
		}

		for _, raw := range []bool{false, true} {
			rec, err := m.record(data, src, raw, false)
			if err != nil {
				if connectors.CodeOf(err) != connectors.CodeUpstream {
					t.Fatalf("error %v is not an upstream error", err)
				}
				continue
			}
			var u U
			if err := json.Unmarshal(rec, &u); err != nil {
				t.Fatalf("output %q does not decode as %T: %v", rec, u, err)
			}
		}
		if _, err := m.record(data, src, false, true); err != nil && !errors.Is(err, errOtherType) && connectors.CodeOf(err) != connectors.CodeUpstream {
			t.Fatalf("in a bundle: error %v", err)
		}

		plain, _, errPlain := m.page(data, src, false)
		withRaw, _, errRaw := m.page(data, src, true)
		for _, err := range []error{errPlain, errRaw} {
			if err != nil && connectors.CodeOf(err) != connectors.CodeUpstream {
				t.Fatalf("searchset: error %v", err)
			}
		}
		if (errPlain == nil) != (errRaw == nil) || len(plain) != len(withRaw) {
			t.Fatalf("searchset: %d records (%v) without raw, %d (%v) with raw", len(plain), errPlain, len(withRaw), errRaw)
		}
		for i := range plain {
			var a, b map[string]any
			if err := json.Unmarshal(plain[i], &a); err != nil {
				t.Fatalf("searchset record is not JSON: %v", err)
			}
			if err := json.Unmarshal(withRaw[i], &b); err != nil {
				t.Fatalf("searchset record is not JSON: %v", err)
			}
			delete(b, "raw")
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("searchset record %d differs without raw:\n%v\n%v", i, a, b)
			}
		}
	})
}

// FuzzMapObservation fuzzes the Observation mapping (see clinicalFuzz).
//
// Run with: go test ./connectors/fhir -run '^$' -fuzz FuzzMapObservation -fuzztime 30s
func FuzzMapObservation(f *testing.F) {
	clinicalFuzz[fhirObservation, unified.Observation](f, unified.Observations,
		``, `null`, `{}`, `{"resourceType":"Observation"}`,
		`{"resourceType":"Observation","valueQuantity":null,"valueString":"a","component":[null,{"valueBoolean":true}]}`,
		`{"resourceType":"Observation","effectiveInstant":"x","effectivePeriod":{"start":1}}`,
		`{"resourceType":"Observation","referenceRange":[{"age":{"low":{"value":"1"}}}]}`,
		`{"resourceType":"Observation","valueInteger":1.5}`,
		`{"resourceType":"Observation","valueQuantity":{"value":1e400}}`,
		`{"resourceType":"Observation","VALUESTRING":"x","valueString":"y"}`,
		`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o","hasMember":[{"reference":"Observation/x"}]}},{"resource":{"resourceType":"Patient","id":"p","name":[{"given":["a"]}]},"search":{"mode":"include"}}]}`,
	)
}

// clinicalAllFilters is every standard filter with a value, as the host
// passes them after normalising (a short system name is already a URI).
var clinicalAllFilters = map[string]string{
	unified.FilterPatientID:  "p1",
	unified.FilterCode:       "http://loinc.org|8867-4",
	unified.FilterCategory:   "vital-signs",
	unified.FilterStatus:     "final",
	unified.FilterDateGTE:    "2020-01",
	unified.FilterDateLT:     "2021-03-04T05:06:07Z",
	unified.FilterUpdatedGTE: "2024-05-06",
}

// clinicalFilters returns the filters of clinicalAllFilters named in names.
func clinicalFilters(names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		out[n] = clinicalAllFilters[n]
	}
	return out
}

func TestObservationCapability(t *testing.T) {
	clinicalCapability(t, unified.Observations,
		[]string{"patient_id", "code", "category", "status", "date_gte", "date_lt", "updated_gte", "sort"},
		[]string{"patient_id"})
}

func TestObservationSearch(t *testing.T) {
	clinicalWantQuery(t, unified.Observations, clinicalAllFilters, "Observation",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "code", Value: "http://loinc.org|8867-4"},
		connectors.Param{Name: "category", Value: "vital-signs"},
		connectors.Param{Name: "status", Value: "final"},
		connectors.Param{Name: "date", Value: "ge2020-01"},
		connectors.Param{Name: "date", Value: "lt2021-03-04T05:06:07Z"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-05-06"},
	)
	clinicalWantQuery(t, unified.Observations, clinicalFilters("patient_id"), "Observation",
		connectors.Param{Name: "patient", Value: "p1"})
	// A code without a system, and FHIR's "no system" form, pass as they
	// are; a comma in a code is escaped so it is not read as a list.
	clinicalWantQuery(t, unified.Observations, map[string]string{"patient_id": "p1", "code": "|8867-4"}, "Observation",
		connectors.Param{Name: "patient", Value: "p1"}, connectors.Param{Name: "code", Value: "|8867-4"})
	clinicalWantQuery(t, unified.Observations, map[string]string{"patient_id": "p1", "code": "a,b"}, "Observation",
		connectors.Param{Name: "patient", Value: "p1"}, connectors.Param{Name: "code", Value: `a\,b`})

	clinicalWantRefused(t, unified.Observations, nil, connectors.CodeInvalidArgument, "patient_id")
	clinicalWantRefused(t, unified.Observations, clinicalFilters("code", "status"), connectors.CodeInvalidArgument, "patient_id")
	clinicalWantRefused(t, unified.Observations, map[string]string{"patient_id": "../x"}, connectors.CodeInvalidArgument, "patient_id")
	clinicalWantRefused(t, unified.Observations, map[string]string{"patient_id": "p1", "date_gte": "2020-13"}, connectors.CodeInvalidArgument, "date_gte")
	clinicalWantRefused(t, unified.Observations, map[string]string{"patient_id": "p1", "code": "a|b|c"}, connectors.CodeInvalidArgument, "code")
	clinicalWantRefused(t, unified.Observations, map[string]string{"patient_id": "p1", "name": "x"}, connectors.CodeUnsupported, "name")
}

func TestObservationSearchPage(t *testing.T) {
	// A page of Observations with an included Patient and an
	// OperationOutcome: only the matches are records, with or without raw.
	body := bundleJSON("", "", 2,
		`{"resource":{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"a"},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":1.5,"unit":"kg"}},"search":{"mode":"match"}}`,
		`{"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"X"}]},"search":{"mode":"include"}}`,
		`{"resource":{"resourceType":"OperationOutcome","issue":[]},"search":{"mode":"outcome"}}`,
		`{"resource":{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"b"},"subject":{"reference":"Patient/p1"},"valueString":"x"}}`,
	)
	for _, raw := range []bool{false, true} {
		_, resp, err := clinicalSearch(t, unified.Observations, clinicalFilters("patient_id"), raw, body)
		if err != nil {
			t.Fatal(err)
		}
		if ids := recordIDs(t, resp); !slices.Equal(ids, []string{"o1", "o2"}) {
			t.Errorf("raw %v: records %v", raw, ids)
		}
		var o unified.Observation
		if err := json.Unmarshal(resp.Records[0], &o); err != nil {
			t.Fatal(err)
		}
		if o.Value == nil || o.Value.Quantity == nil || *o.Value.Quantity.Value != 1.5 || o.Patient == nil || o.Patient.ID != "p1" {
			t.Errorf("raw %v: record %+v", raw, o)
		}
		if (len(o.Raw) != 0) != raw {
			t.Errorf("raw %v: raw field %s", raw, o.Raw)
		}
	}
}

func TestObservationEffective(t *testing.T) {
	tests := []struct {
		name, fields string
		at           string
		period       *unified.Period
	}{
		{"dateTime", `"effectiveDateTime":"2024"`, "2024", nil},
		{"instant", `"effectiveInstant":"2024-01-02T03:04:05.678Z"`, "2024-01-02T03:04:05.678Z", nil},
		{"period", `"effectivePeriod":{"end":"2024-02"}`, "", &unified.Period{End: "2024-02"}},
		{"empty period", `"effectivePeriod":{}`, "", nil},
		{"timing", `"effectiveTiming":{"event":["2024-01-01"]}`, "", nil},
		// Two variants at once is invalid FHIR; the point in time wins
		// rather than giving both.
		{"dateTime and period", `"effectiveDateTime":"2024-03","effectivePeriod":{"start":"2024-01"}`, "2024-03", nil},
	}
	for _, tt := range tests {
		o := clinicalMap[unified.Observation](t, unified.Observations, `{"resourceType":"Observation","id":"o1",`+tt.fields+`}`)
		if o.EffectiveAt != tt.at || !reflect.DeepEqual(o.EffectivePeriod, tt.period) {
			t.Errorf("%s: effective_at %q period %+v, want %q %+v", tt.name, o.EffectiveAt, o.EffectivePeriod, tt.at, tt.period)
		}
	}
}

func TestObservationValues(t *testing.T) {
	tests := []struct{ value, want string }{
		{`"valueQuantity":{"value":0,"comparator":"<","unit":"mg/dL","system":"urn:oid:2.16.840.1.113883.6.8","code":"mg/dL"}`,
			`{"type":"quantity","quantity":{"value":0,"comparator":"<","unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`},
		{`"valueCodeableConcept":{"coding":[{"system":"urn:oid:2.16.840.1.113883.6.96","code":"10828004"}]}`,
			`{"type":"codeable_concept","codeable_concept":{"codings":[{"system":"http://snomed.info/sct","system_name":"snomed","code":"10828004"}]}}`},
		{`"valueString":""`, `{"type":"string","string":""}`},
		{`"valueBoolean":false`, `{"type":"boolean","boolean":false}`},
		{`"valueInteger":-3`, `{"type":"integer","integer":-3}`},
		{`"valueRange":{"low":{"value":1},"high":{"value":2}}`, `{"type":"range","range":{"low":{"value":1},"high":{"value":2}}}`},
		{`"valueRatio":{"numerator":{"value":1},"denominator":{"value":128}}`, `{"type":"ratio","ratio":{"numerator":{"value":1},"denominator":{"value":128}}}`},
		{`"valueTime":"10:15:00"`, `{"type":"time","time":"10:15:00"}`},
		{`"valueDateTime":"2024-05"`, `{"type":"date_time","date_time":"2024-05"}`},
		{`"valuePeriod":{"start":"2024"}`, `{"type":"period","period":{"start":"2024"}}`},
		// Values the unified model cannot hold, or that hold nothing.
		{`"valueSampledData":{"origin":{"value":0},"period":10,"dimensions":1,"data":"1 2 3"}`, ``},
		{`"valueQuantity":{"extension":[{"url":"x","valueString":"y"}]}`, ``},
		{`"valueCodeableConcept":{"coding":[{}]}`, ``},
		{`"valueRange":{}`, ``},
	}
	for _, tt := range tests {
		got := clinicalMapJSON(t, unified.Observations, `{"resourceType":"Observation","id":"o1",`+tt.value+`}`)
		want := `{"code":{},"id":"o1"}`
		if tt.want != "" {
			want = `{"code":{},"id":"o1","value":` + tt.want + `}`
		}
		if want = clinicalCanon(t, want); got != want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.value, got, want)
		}
	}
}

func TestObservationReferences(t *testing.T) {
	tests := []struct {
		name, subject string
		want          *unified.Reference
	}{
		{"patient", `{"reference":"Patient/p1","display":"P"}`, &unified.Reference{Resource: unified.Patients, ID: "p1", Display: "P"}},
		{"versioned patient", `{"reference":"Patient/p1/_history/2"}`, &unified.Reference{Resource: unified.Patients, ID: "p1"}},
		{"group", `{"reference":"Group/g1","display":"Ward 3"}`, nil},
		{"group without display", `{"reference":"Group/g1"}`, nil},
		{"display only", `{"display":"P"}`, &unified.Reference{Display: "P"}},
		{"device", `{"reference":"Device/d1"}`, nil},
		{"location", `{"reference":"Location/l1"}`, nil},
		{"urn:uuid", `{"reference":"urn:uuid:f1f26587-7199-4c0f-880d-d9cd0799ac15"}`, nil},
		{"absolute", `{"reference":"http://other.example/fhir/Patient/p1"}`, nil},
		{"contained", `{"reference":"#p1"}`, nil},
	}
	for _, tt := range tests {
		o := clinicalMap[unified.Observation](t, unified.Observations,
			`{"resourceType":"Observation","id":"o1","subject":`+tt.subject+`,"encounter":{"reference":"Encounter/e1"}}`)
		if !reflect.DeepEqual(o.Patient, tt.want) {
			t.Errorf("%s: patient %+v, want %+v", tt.name, o.Patient, tt.want)
		}
		if o.Encounter == nil || o.Encounter.Resource != unified.Encounters || o.Encounter.ID != "e1" {
			t.Errorf("%s: encounter %+v", tt.name, o.Encounter)
		}
	}

	// An encounter field that points at something else is not an
	// encounter; performers, members and sources keep every kind of
	// target, with those Ferry cannot serve left as their display.
	o := clinicalMap[unified.Observation](t, unified.Observations, `{"resourceType":"Observation","id":"o1",
		"encounter":{"reference":"EpisodeOfCare/x"},
		"performer":[{"reference":"Practitioner/d1"},{"reference":"Organization/org1"},{"reference":"CareTeam/ct","display":"Team"},{"reference":"RelatedPerson/r1"}],
		"hasMember":[{"reference":"Observation/m1"},{"reference":"QuestionnaireResponse/q1","display":"Form"},{}],
		"derivedFrom":[{"reference":"Observation/d1"},{"reference":"Media/x"}]}`)
	if o.Encounter != nil {
		t.Errorf("encounter %+v", o.Encounter)
	}
	wantPerformers := []unified.Reference{{Resource: unified.Practitioners, ID: "d1"}, {Resource: unified.Organizations, ID: "org1"}, {Display: "Team"}}
	if !reflect.DeepEqual(o.Performers, wantPerformers) {
		t.Errorf("performers %+v", o.Performers)
	}
	if want := []unified.Reference{{Resource: unified.Observations, ID: "m1"}, {Display: "Form"}}; !reflect.DeepEqual(o.HasMembers, want) {
		t.Errorf("has_members %+v", o.HasMembers)
	}
	if want := []unified.Reference{{Resource: unified.Observations, ID: "d1"}}; !reflect.DeepEqual(o.DerivedFrom, want) {
		t.Errorf("derived_from %+v", o.DerivedFrom)
	}
}

func TestObservationComponentsAndRanges(t *testing.T) {
	got := clinicalMapJSON(t, unified.Observations, `{"resourceType":"Observation","id":"o1",
		"component":[
			{},
			{"extension":[{"url":"x","valueString":"y"}],"code":{"coding":[{}]}},
			{"code":{"text":"systolic"},"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"},
			 "interpretation":[{"coding":[{"code":"H"}]},{}],
			 "referenceRange":[{"high":{"value":130}},{"text":""}]},
			{"code":{"text":"diastolic"},"dataAbsentReason":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"error"}]}},
			{"code":{"text":"a sampled trace"},"valueSampledData":{"data":"1 2"}}
		],
		"referenceRange":[
			{"low":{"value":1,"unit":"x"},"type":{"text":"normal"},"appliesTo":[{"text":"female"},{}],"age":{"low":{"value":18,"code":"a"}},"text":"1-2"},
			{"age":{}},
			{"text":"negative"}
		]}`)
	want := `{"code":{},` +
		`"components":[` +
		`{"code":{"text":"systolic"},"value":{"type":"quantity","quantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},` +
		`"interpretations":[{"codings":[{"code":"H"}]}],"reference_ranges":[{"high":{"value":130}}]},` +
		`{"code":{"text":"diastolic"},"data_absent_reason":{"codings":[{"system":"http://terminology.hl7.org/CodeSystem/data-absent-reason","code":"error"}]}},` +
		`{"code":{"text":"a sampled trace"}}],` +
		`"id":"o1",` +
		`"reference_ranges":[{"low":{"value":1,"unit":"x"},"type":{"text":"normal"},"applies_to":[{"text":"female"}],"age":{"low":{"value":18,"code":"a"}},"text":"1-2"},{"text":"negative"}]}`
	if want = clinicalCanon(t, want); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestObservationNoNarrative(t *testing.T) {
	// Narrative and extensions never reach the unified record.
	got := clinicalMapJSON(t, unified.Observations, `{"resourceType":"Observation","id":"o1","meta":{"lastUpdated":"2024-01-01T00:00:00Z","versionId":"3"},
		"text":{"status":"generated","div":"<div>secret</div>"},
		"extension":[{"url":"x","valueString":"secret"}],"modifierExtension":[{"url":"y","valueBoolean":true}],
		"note":[{"text":"secret"}],"code":{"text":"c","extension":[{"url":"z","valueString":"secret"}]}}`)
	if strings.Contains(got, "secret") {
		t.Errorf("narrative or extension copied: %s", got)
	}
	if want := clinicalCanon(t, `{"code":{"text":"c"},"id":"o1","updated_at":"2024-01-01T00:00:00Z"}`); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestObservationWrongType(t *testing.T) {
	_, err := resourceMaps[unified.Observations].record([]byte(`{"resourceType":"DiagnosticReport","id":"o1"}`), goldenSource, false, false)
	wantCode(t, err, connectors.CodeUpstream, "")
	_, err = resourceMaps[unified.Observations].record([]byte(`{"resourceType":"Observation","id":"o1","component":{"code":{}}}`), goldenSource, false, false)
	wantCode(t, err, connectors.CodeUpstream, "")
}
