package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
)

// The helpers below serve the tests of medication.go, procedure.go,
// diagnostic_report.go and document.go (the care records).

// careCapability checks the manifest entry of resource.
func careCapability(t *testing.T, resource unified.ResourceType, params, required []string) {
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

// careSearch runs a search of resource with params and a limit of 5 against
// a source that answers body. It returns the request sent, or the error of
// a refused search, which must send nothing.
func careSearch(t *testing.T, resource unified.ResourceType, params map[string]string, raw bool, body string) (*connectors.HTTPRequest, *connectors.SearchResponse, error) {
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

// careWantQuery checks that a search of resource with params sends path
// with query, then the page size.
func careWantQuery(t *testing.T, resource unified.ResourceType, params map[string]string, path string, query ...connectors.Param) {
	t.Helper()
	req, _, err := careSearch(t, resource, params, false, bundleJSON("", "", 0))
	if err != nil {
		t.Fatalf("search %s %v: %v", resource, params, err)
	}
	want := append(query, connectors.Param{Name: "_count", Value: "5"})
	if req.Path != path || !reflect.DeepEqual(req.Query, want) {
		t.Errorf("search %s %v sent %s %v, want %s %v", resource, params, req.Path, req.Query, path, want)
	}
}

// careAllFilters is every standard filter with a value, as the host passes
// them after normalising.
func careAllFilters(code, category, status string) map[string]string {
	return map[string]string{
		unified.FilterPatientID:  "p1",
		unified.FilterCode:       code,
		unified.FilterCategory:   category,
		unified.FilterStatus:     status,
		unified.FilterDateGTE:    "2020-01",
		unified.FilterDateLT:     "2021-03-04T05:06:07Z",
		unified.FilterUpdatedGTE: "2024-05-06",
	}
}

// careRefusals checks what every care resource refuses before sending
// anything: no patient, a bad date, an undeclared filter.
func careRefusals(t *testing.T, resource unified.ResourceType) {
	t.Helper()
	for _, tt := range []struct {
		params map[string]string
		code   connectors.ErrorCode
		param  string
	}{
		{map[string]string{"status": "final"}, connectors.CodeInvalidArgument, "patient_id"},
		{map[string]string{"patient_id": "../x"}, connectors.CodeInvalidArgument, "patient_id"},
		{map[string]string{"patient_id": "p1", "date_gte": "yesterday"}, connectors.CodeInvalidArgument, "date_gte"},
		{map[string]string{"patient_id": "p1", "code": "a|b|c"}, connectors.CodeInvalidArgument, "code"},
		{map[string]string{"patient_id": "p1", "name": "x"}, connectors.CodeUnsupported, "name"},
	} {
		_, _, err := careSearch(t, resource, tt.params, false, bundleJSON("", "", 0))
		wantCode(t, err, tt.code, tt.param)
	}
}

// careMap maps one resource as a read of it would, and decodes the result.
func careMap[U any](t *testing.T, resource unified.ResourceType, body string) U {
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

// carePage maps a searchset of entries (each an entry object) and decodes
// its records.
func carePage[U any](t *testing.T, resource unified.ResourceType, raw bool, entries ...string) []U {
	t.Helper()
	recs, _, err := resourceMaps[resource].page([]byte(bundleJSON("", "", -1, entries...)), goldenSource, raw)
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	out := make([]U, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("record %s: %v", r, err)
		}
	}
	return out
}

func TestMedicationCapability(t *testing.T) {
	careCapability(t, unified.Medications,
		[]string{"patient_id", "code", "category", "status", "date_gte", "date_lt", "updated_gte", "sort"},
		[]string{"patient_id"})
}

func TestMedicationSearch(t *testing.T) {
	params := careAllFilters("http://www.nlm.nih.gov/research/umls/rxnorm|866414", "outpatient", "active")
	careWantQuery(t, unified.Medications, params, "MedicationRequest",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "code", Value: "http://www.nlm.nih.gov/research/umls/rxnorm|866414"},
		connectors.Param{Name: "category", Value: "outpatient"},
		connectors.Param{Name: "status", Value: "active"},
		connectors.Param{Name: "authoredon", Value: "ge2020-01"},
		connectors.Param{Name: "authoredon", Value: "lt2021-03-04T05:06:07Z"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-05-06"},
		connectors.Param{Name: "_include", Value: "MedicationRequest:medication"},
	)
	careWantQuery(t, unified.Medications, map[string]string{"patient_id": "p1"}, "MedicationRequest",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "_include", Value: "MedicationRequest:medication"},
	)
	careRefusals(t, unified.Medications)
}

// medicationRequest is a MedicationRequest naming its drug by ref.
func medicationRequest(id, medication string) string {
	return `{"resourceType":"MedicationRequest","id":"` + id + `","status":"active","intent":"order",` + medication + `,"subject":{"reference":"Patient/p1"}}`
}

func medicationEntry(fullURL, id, code string) string {
	return `{"fullUrl":"` + fullURL + `","resource":{"resourceType":"Medication","id":"` + id +
		`","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"` + code + `"}]}},"search":{"mode":"include"}}`
}

func matchEntry(resource string) string {
	return `{"resource":` + resource + `,"search":{"mode":"match"}}`
}

// medCode is the first RxNorm code of a medication, or "".
func medCode(m unified.Medication) string {
	for _, c := range m.Medication.Codings {
		if c.System == unified.SystemRxNorm {
			return c.Code
		}
	}
	return ""
}

func TestMedicationPageResolvesIncluded(t *testing.T) {
	const base = "http://src.example/fhir/R4/"
	for _, raw := range []bool{false, true} {
		meds := carePage[unified.Medication](t, unified.Medications, raw,
			matchEntry(medicationRequest("relative", `"medicationReference":{"reference":"Medication/m1","display":"Drug one"}`)),
			matchEntry(medicationRequest("versioned", `"medicationReference":{"reference":"Medication/m1/_history/3"}`)),
			matchEntry(medicationRequest("absolute", `"medicationReference":{"reference":"`+base+`Medication/m2"}`)),
			matchEntry(medicationRequest("urn", `"medicationReference":{"reference":"urn:uuid:8c1d0a9e-3b8f-4e0a-9d3c-1f2e3d4c5b6a"}`)),
			matchEntry(medicationRequest("missing", `"medicationReference":{"reference":"Medication/gone","display":"Gone"}`)),
			matchEntry(medicationRequest("inline", `"medicationCodeableConcept":{"coding":[{"system":"urn:oid:2.16.840.1.113883.6.88","code":"316049"}]}`)),
			medicationEntry(base+"Medication/m1", "m1", "111"),
			medicationEntry(base+"Medication/m2", "m2", "222"),
			medicationEntry("urn:uuid:8c1d0a9e-3b8f-4e0a-9d3c-1f2e3d4c5b6a", "m3", "333"),
			// An outcome and a Medication of the match mode are not records.
			`{"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}`,
			`{"resource":{"resourceType":"Medication","id":"m9"},"search":{"mode":"match"}}`,
		)
		got := map[string]string{}
		var ids []string
		for _, m := range meds {
			ids = append(ids, m.ID)
			got[m.ID] = medCode(m)
		}
		if want := []string{"relative", "versioned", "absolute", "urn", "missing", "inline"}; !slices.Equal(ids, want) {
			t.Fatalf("raw %v: records %v, want %v", raw, ids, want)
		}
		want := map[string]string{"relative": "111", "versioned": "111", "absolute": "222", "urn": "333", "missing": "", "inline": "316049"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("raw %v: medications %v, want %v", raw, got, want)
		}
		if r := meds[0].MedicationRef; r == nil || r.Display != "Drug one" || r.ID != "" {
			// Medication is not a unified resource: the reference keeps
			// its display only.
			t.Errorf("medication_ref %+v", r)
		}
		if r := meds[4].MedicationRef; r == nil || r.Display != "Gone" || len(meds[4].Medication.Codings) != 0 {
			t.Errorf("unresolved medication %+v ref %+v", meds[4].Medication, r)
		}
		for _, m := range meds {
			if raw != (len(m.Raw) > 0) {
				t.Errorf("raw %v: record %s has raw %q", raw, m.ID, m.Raw)
			}
		}
	}
}

func TestMedicationPageInfo(t *testing.T) {
	// The page's links and total are read as for any search.
	body := bundleJSON("http://src.example/fhir/R4/MedicationRequest?patient=p1", "http://src.example/fhir/R4/MedicationRequest?patient=p1&page=2", 9,
		matchEntry(medicationRequest("r1", `"medicationCodeableConcept":{"text":"x"}`)))
	recs, page, err := resourceMaps[unified.Medications].page([]byte(body), goldenSource, false)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %d, %v", len(recs), err)
	}
	if page.matches != 1 || page.total == nil || *page.total != 9 || page.next != "http://src.example/fhir/R4/MedicationRequest?patient=p1&page=2" ||
		page.self != "http://src.example/fhir/R4/MedicationRequest?patient=p1" {
		t.Errorf("page %+v", page)
	}
}

func TestMedicationPageWithoutSearchMode(t *testing.T) {
	// Some servers leave search.mode out; an included Medication is then
	// still found, and is not taken for a match.
	meds := carePage[unified.Medication](t, unified.Medications, false,
		`{"resource":`+medicationRequest("r1", `"medicationReference":{"reference":"Medication/m1"}`)+`}`,
		`{"fullUrl":"Medication/m1","resource":{"resourceType":"Medication","id":"m1","code":{"text":"Drug"}}}`,
	)
	if len(meds) != 1 || meds[0].Medication.Text != "Drug" {
		t.Errorf("records %+v", meds)
	}
}

func TestMedicationPageErrors(t *testing.T) {
	m := resourceMaps[unified.Medications]
	for _, body := range []string{
		`not json`,
		`{"resourceType":"Patient"}`,
		`{"resourceType":"Bundle","type":"collection","entry":[]}`,
		// A MedicationRequest that does not fit its type is the source's
		// fault; another type that does not fit ours is skipped.
		bundleJSON("", "", -1, matchEntry(`{"resourceType":"MedicationRequest","status":7}`)),
	} {
		_, _, err := m.page([]byte(body), goldenSource, false)
		wantCode(t, err, connectors.CodeUpstream, "")
	}
	recs, _, err := m.page([]byte(bundleJSON("", "", -1,
		matchEntry(`{"resourceType":"Observation","status":7}`),
		matchEntry(`null`), `{}`,
		matchEntry(medicationRequest("r1", `"medicationCodeableConcept":{"text":"x"}`)),
	)), goldenSource, false)
	if err != nil || len(recs) != 1 {
		t.Errorf("records %d, %v", len(recs), err)
	}
	// A read of the wrong record is refused, in a page as anywhere.
	src := goldenSource
	src.SourceID = "other"
	_, err = m.record([]byte(medicationRequest("r1", `"medicationCodeableConcept":{"text":"x"}`)), src, false, false)
	wantCode(t, err, connectors.CodeUpstream, "")
}

func TestMedicationContained(t *testing.T) {
	// The contained Observation's code is a list here (invalid for an
	// Observation, but the shape of a Questionnaire's): a contained resource
	// that is not the named Medication must not fail the record.
	body := `{"resourceType":"MedicationRequest","id":"r1",
		"contained":[
			{"resourceType":"Observation","id":"med1","code":[{"code":"x"}]},
			{"resourceType":"Medication","id":"med2","code":{"coding":[{"system":"http://snomed.info/sct","code":"430127000"}]}},
			{"resourceType":"Medication","id":"med1","code":{"text":"The one"}}
		],
		"medicationReference":{"reference":"#med1"}}`
	m := careMap[unified.Medication](t, unified.Medications, body)
	if m.Medication.Text != "The one" || m.MedicationRef != nil {
		t.Errorf("medication %+v ref %+v", m.Medication, m.MedicationRef)
	}
	for _, ref := range []string{"#nope", "#", "#med2x"} {
		m := careMap[unified.Medication](t, unified.Medications, strings.Replace(body, "#med1", ref, 1))
		if len(m.Medication.Codings) != 0 || m.Medication.Text != "" {
			t.Errorf("%s resolved to %+v", ref, m.Medication)
		}
	}
	// A contained Medication is not looked for outside contained.
	m = careMap[unified.Medication](t, unified.Medications, strings.Replace(body, "#med1", "Medication/med1", 1))
	if m.Medication.Text != "" {
		t.Errorf("Medication/med1 resolved from contained: %+v", m.Medication)
	}
}

func TestMedicationDosage(t *testing.T) {
	tests := []struct {
		name, dosage string
		want         []unified.Dosage
	}{
		{"empty", `{}`, nil},
		{"sequence only", `{"sequence":1,"asNeededBoolean":false}`, nil},
		{"as needed for a reason", `{"asNeededCodeableConcept":{"text":"pain"}}`, []unified.Dosage{{AsNeeded: true}}},
		{"as needed for nothing", `{"asNeededCodeableConcept":{}}`, nil},
		{"dose range is not a dose", `{"doseAndRate":[{"doseRange":{"low":{"value":1}}},{"doseQuantity":{"value":2}}]}`, nil},
		{"dose", `{"doseAndRate":[{"doseQuantity":{"value":2,"unit":"mg","system":"urn:oid:2.16.840.1.113883.6.8","code":"mg"},"rateQuantity":{"value":5}}]}`,
			[]unified.Dosage{{Dose: &unified.Quantity{Value: careFloat(2), Unit: "mg", System: unified.SystemUCUM, Code: "mg"}}}},
		{"timing", `{"timing":{"repeat":{"frequency":2,"period":0.5,"periodUnit":"d","boundsDuration":{"value":7}},"code":{"text":"BID"}}}`,
			[]unified.Dosage{{Frequency: 2, Period: 0.5, PeriodUnit: "d"}}},
		{"timing without repeat", `{"timing":{"event":["2020-01-01"]}}`, nil},
	}
	for _, tt := range tests {
		m := careMap[unified.Medication](t, unified.Medications,
			`{"resourceType":"MedicationRequest","id":"r1","dosageInstruction":[`+tt.dosage+`]}`)
		if !reflect.DeepEqual(m.DosageInstructions, tt.want) {
			t.Errorf("%s: dosage %+v, want %+v", tt.name, m.DosageInstructions, tt.want)
		}
	}
	m := careMap[unified.Medication](t, unified.Medications,
		`{"resourceType":"MedicationRequest","id":"r1","dispenseRequest":{"validityPeriod":{"start":"2020"},"performer":{"reference":"Organization/o1"}}}`)
	if m.Dispense != nil {
		t.Errorf("dispense of nothing mappable: %+v", m.Dispense)
	}
	m = careMap[unified.Medication](t, unified.Medications,
		`{"resourceType":"MedicationRequest","id":"r1","dispenseRequest":{"numberOfRepeatsAllowed":0}}`)
	if m.Dispense == nil || m.Dispense.Refills == nil || *m.Dispense.Refills != 0 {
		t.Errorf("zero refills lost: %+v", m.Dispense)
	}
}

func careFloat(v float64) *float64 { return &v }

func TestMedicationChoice(t *testing.T) {
	// Both variants of medication[x] (invalid FHIR): the inline concept is
	// the drug, and the reference is still reported.
	m := careMap[unified.Medication](t, unified.Medications, `{"resourceType":"MedicationRequest","id":"r1",
		"medicationCodeableConcept":{"text":"inline"},"medicationReference":{"reference":"Medication/m1","display":"ref"}}`)
	if m.Medication.Text != "inline" || m.MedicationRef != nil {
		t.Errorf("medication %+v ref %+v", m.Medication, m.MedicationRef)
	}
	// A subject that is a Group is not a patient.
	m = careMap[unified.Medication](t, unified.Medications, `{"resourceType":"MedicationRequest","id":"r1","subject":{"reference":"Group/g1","display":"ward 3"},
		"requester":{"reference":"PractitionerRole/pr1","display":"Dr A"},"encounter":{"reference":"Encounter/e1"}}`)
	if m.Patient != nil || m.Requester == nil || m.Requester.Display != "Dr A" || m.Encounter == nil || m.Encounter.ID != "e1" {
		t.Errorf("patient %+v requester %+v encounter %+v", m.Patient, m.Requester, m.Encounter)
	}
}

// medicationSource answers a read of a MedicationRequest and of the
// Medications it names, and counts the requests.
func medicationSource(request string, medications map[string]*connectors.HTTPResponse) *fakeTransport {
	return &fakeTransport{handle: func(req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		if req.Path == "MedicationRequest/r1" {
			return &connectors.HTTPResponse{Status: 200, Body: []byte(request)}, nil
		}
		if resp, ok := medications[req.Path]; ok {
			if resp == nil {
				return nil, connectors.Errorf(connectors.CodeUpstreamTimeout, "transport: deadline")
			}
			return resp, nil
		}
		return &connectors.HTTPResponse{Status: 404, Body: []byte(`{"resourceType":"OperationOutcome"}`)}, nil
	}}
}

// readMedication reads MedicationRequest r1 through the connector's Read,
// which resolves a referenced Medication.
func readMedication(t *testing.T, tr *fakeTransport, raw bool) (json.RawMessage, error) {
	t.Helper()
	c := configured(t, "")
	c.now = func() time.Time { return goldenSource.FetchedAt }
	resp, err := c.Read(context.Background(), &connectors.ReadRequest{
		ConnectionID: "c1", Resource: unified.Medications, ID: "r1", Raw: raw, Transport: tr,
	})
	if err != nil {
		return nil, err
	}
	return resp.Record, nil
}

func TestMedicationReadResolves(t *testing.T) {
	request := medicationRequest("r1", `"medicationReference":{"reference":"Medication/m1","display":"Drug one"}`)
	medication := `{"resourceType":"Medication","id":"m1","code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"111"}],"text":"Drug one 10 MG"}}`
	tr := medicationSource(request, map[string]*connectors.HTTPResponse{"Medication/m1": {Status: 200, Body: []byte(medication)}})
	for _, raw := range []bool{false, true} {
		rec, err := readMedication(t, tr, raw)
		if err != nil {
			t.Fatal(err)
		}
		var m unified.Medication
		if err := json.Unmarshal(rec, &m); err != nil {
			t.Fatal(err)
		}
		if medCode(m) != "111" || m.Medication.Text != "Drug one 10 MG" || m.MedicationRef == nil || m.MedicationRef.Display != "Drug one" {
			t.Errorf("medication %+v ref %+v", m.Medication, m.MedicationRef)
		}
		if m.ID != "r1" || m.Source.SourceID != "r1" || m.Patient == nil || m.Patient.ID != "p1" {
			t.Errorf("record %+v", m)
		}
		if raw && !jsonEqual(t, m.Raw, []byte(request)) {
			t.Errorf("raw %s differs from the source's request", m.Raw)
		}
		if !raw && m.Raw != nil {
			t.Errorf("raw without raw=true")
		}
		req := tr.last(t)
		if req.Method != "GET" || req.Path != "Medication/m1" || len(req.Query) != 0 || !reflect.DeepEqual(req.Header, acceptHeader()) {
			t.Errorf("medication request %+v", req)
		}
	}
}

func TestMedicationReadNeedsNoLookup(t *testing.T) {
	for _, med := range []string{
		`"medicationCodeableConcept":{"text":"x"}`,
		`"medicationReference":{"reference":"#m1"}`,
		`"medicationReference":{"reference":"urn:uuid:8c1d0a9e-3b8f-4e0a-9d3c-1f2e3d4c5b6a"}`,
		`"medicationReference":{"reference":"http://other.example/fhir/Medication/m1"}`,
		`"medicationReference":{"reference":"Substance/s1"}`,
		`"medicationReference":{"reference":"Medication/../x"}`,
		`"medicationReference":{"display":"x"}`,
		`"medicationCodeableConcept":{"text":"x"},"medicationReference":{"reference":"Medication/m1"}`,
	} {
		tr := medicationSource(medicationRequest("r1", med), nil)
		if _, err := readMedication(t, tr, false); err != nil {
			t.Fatalf("%s: %v", med, err)
		}
		if len(tr.reqs) != 1 {
			t.Errorf("%s: %d requests, want only the read", med, len(tr.reqs))
		}
	}
}

func TestMedicationReadLookupFailures(t *testing.T) {
	request := medicationRequest("r1", `"medicationReference":{"reference":"Medication/m1","display":"Drug one"}`)
	tests := []struct {
		name string
		resp *connectors.HTTPResponse // nil: the transport fails
		code connectors.ErrorCode     // CodeNotFound: the record is answered unresolved
	}{
		{"gone", &connectors.HTTPResponse{Status: 404, Body: []byte(phiMarker)}, connectors.CodeNotFound},
		{"410", &connectors.HTTPResponse{Status: 410}, connectors.CodeNotFound},
		{"no code", &connectors.HTTPResponse{Status: 200, Body: []byte(`{"resourceType":"Medication","id":"m1","form":{"text":"tablet"}}`)}, connectors.CodeNotFound},
		{"no id", &connectors.HTTPResponse{Status: 200, Body: []byte(`{"resourceType":"Medication","code":{"text":"x"}}`)}, -1},
		{"source fails", &connectors.HTTPResponse{Status: 500, Body: []byte(phiMarker)}, connectors.CodeUpstream},
		{"refused", &connectors.HTTPResponse{Status: 403}, connectors.CodeUpstream},
		{"not JSON", &connectors.HTTPResponse{Status: 200, Body: []byte(phiMarker)}, connectors.CodeUpstream},
		{"another type", &connectors.HTTPResponse{Status: 200, Body: []byte(`{"resourceType":"Substance","id":"m1","code":{"text":"x"}}`)}, connectors.CodeUpstream},
		{"another id", &connectors.HTTPResponse{Status: 200, Body: []byte(`{"resourceType":"Medication","id":"m2","code":{"text":"` + phiMarker + `"}}`)}, connectors.CodeUpstream},
		{"bad code", &connectors.HTTPResponse{Status: 200, Body: []byte(`{"resourceType":"Medication","id":"m1","code":"x"}`)}, connectors.CodeUpstream},
		{"transport", nil, connectors.CodeUpstreamTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := medicationSource(request, map[string]*connectors.HTTPResponse{"Medication/m1": tt.resp})
			rec, err := readMedication(t, tr, false)
			switch tt.code {
			case -1:
				var m unified.Medication
				if err != nil || json.Unmarshal(rec, &m) != nil || m.Medication.Text != "x" {
					t.Errorf("%s %v", rec, err)
				}
			case connectors.CodeNotFound:
				var m unified.Medication
				if err != nil || json.Unmarshal(rec, &m) != nil || len(m.Medication.Codings) != 0 || m.MedicationRef == nil || m.ID != "r1" {
					t.Errorf("%s %v", rec, err)
				}
			default:
				wantCode(t, err, tt.code, "")
			}
		})
	}
}

// BenchmarkMedicationPage maps a search page of 20 MedicationRequests (the
// Synthea metoprolol order, compact), each naming one of 10 included
// Medications: Bundle decoding, the Medication index, mapping and
// encoding.
func BenchmarkMedicationPage(b *testing.B) {
	var compact bytes.Buffer
	in := txtar.Parse(readFileB(b, filepath.Join("testdata", "golden", "medications", "synthea-barry-wolf-metoprolol.txtar"))).Get("input.json")
	if err := json.Compact(&compact, in); err != nil {
		b.Fatal(err)
	}
	const base = "http://src.example/fhir/R4/"
	var entries []string
	for i := range 20 {
		var r map[string]json.RawMessage
		if err := json.Unmarshal(compact.Bytes(), &r); err != nil {
			b.Fatal(err)
		}
		delete(r, "medicationCodeableConcept")
		r["id"] = json.RawMessage(quote("r" + itoa(i)))
		r["medicationReference"] = json.RawMessage(`{"reference":"Medication/m` + itoa(i%10) + `"}`)
		body, _ := json.Marshal(r)
		entries = append(entries, `{"fullUrl":"`+base+`MedicationRequest/r`+itoa(i)+`","resource":`+string(body)+`,"search":{"mode":"match"}}`)
	}
	for i := range 10 {
		entries = append(entries, medicationEntry(base+"Medication/m"+itoa(i), "m"+itoa(i), "86641"+itoa(i)))
	}
	body := []byte(bundleJSON(base+"MedicationRequest?patient=p1", "", 20, entries...))
	m := resourceMaps[unified.Medications]
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		recs, _, err := m.page(body, goldenSource, false)
		if err != nil || len(recs) != 20 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
}
