package fhir

import (
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestConditionCapability(t *testing.T) {
	clinicalCapability(t, unified.Conditions,
		[]string{"patient_id", "code", "category", "status", "date_gte", "date_lt", "updated_gte", "sort"},
		[]string{"patient_id"})
}

func TestConditionSearch(t *testing.T) {
	params := clinicalFilters("patient_id", "category", "date_gte", "date_lt", "updated_gte")
	params["code"] = "http://snomed.info/sct|38341003"
	params["status"] = "active"
	params["category"] = "http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"
	clinicalWantQuery(t, unified.Conditions, params, "Condition",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "code", Value: "http://snomed.info/sct|38341003"},
		connectors.Param{Name: "category", Value: "http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"},
		connectors.Param{Name: "clinical-status", Value: "active"},
		connectors.Param{Name: "onset-date", Value: "ge2020-01"},
		connectors.Param{Name: "onset-date", Value: "lt2021-03-04T05:06:07Z"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-05-06"},
	)
	clinicalWantRefused(t, unified.Conditions, map[string]string{"status": "active"}, connectors.CodeInvalidArgument, "patient_id")
	clinicalWantRefused(t, unified.Conditions, map[string]string{"patient_id": "p1", "date_lt": "yesterday"}, connectors.CodeInvalidArgument, "date_lt")
	clinicalWantRefused(t, unified.Conditions, map[string]string{"patient_id": "p1", "severity": "severe"}, connectors.CodeUnsupported, "severity")
}

func TestConditionOnsetAndAbatement(t *testing.T) {
	tests := []struct {
		name, fields           string
		onset, abatement       string
		clinical, verification string
	}{
		{"dateTime", `"onsetDateTime":"2012","abatementDateTime":"2013-02-03T04:05:06+01:00"`, "2012", "2013-02-03T04:05:06+01:00", "", ""},
		{"period", `"onsetPeriod":{"start":"2012-05","end":"2012-06"},"abatementPeriod":{"start":"2013"}`, "2012-05", "2013", "", ""},
		{"period without start", `"onsetPeriod":{"end":"2012-06"}`, "", "", "", ""},
		// An age, a range of ages, free text, or abatementBoolean name no
		// date: nothing is invented.
		{"age", `"onsetAge":{"value":52,"unit":"years","system":"http://unitsofmeasure.org","code":"a"}`, "", "", "", ""},
		{"range", `"onsetRange":{"low":{"value":50,"code":"a"}},"abatementRange":{"high":{"value":60,"code":"a"}}`, "", "", "", ""},
		{"string", `"onsetString":"in childhood","abatementString":"around April 9"`, "", "", "", ""},
		{"boolean", `"abatementBoolean":true`, "", "", "", ""},
		{"dateTime wins over period", `"onsetDateTime":"2012","onsetPeriod":{"start":"2010"}`, "2012", "", "", ""},
		{"statuses", `"clinicalStatus":{"coding":[{"system":"x"},{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"remission"}]},"verificationStatus":{"text":"confirmed"}`,
			"", "", "remission", ""},
	}
	for _, tt := range tests {
		c := clinicalMap[unified.Condition](t, unified.Conditions, `{"resourceType":"Condition","id":"c1",`+tt.fields+`}`)
		if c.OnsetAt != tt.onset || c.AbatementAt != tt.abatement || c.ClinicalStatus != tt.clinical || c.VerificationStatus != tt.verification {
			t.Errorf("%s: onset %q abatement %q statuses %q %q, want %q %q %q %q", tt.name,
				c.OnsetAt, c.AbatementAt, c.ClinicalStatus, c.VerificationStatus, tt.onset, tt.abatement, tt.clinical, tt.verification)
		}
	}
}

func TestConditionFields(t *testing.T) {
	got := clinicalMapJSON(t, unified.Conditions, `{"resourceType":"Condition","id":"c1","meta":{"lastUpdated":"2024-01-02T03:04:05Z"},
		"text":{"status":"generated","div":"<div>narrative</div>"},
		"identifier":[{"system":"urn:x","value":"1"},{"system":"urn:x"}],
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis"}]},{}],
		"severity":{"coding":[{"system":"http://snomed.info/sct","code":"24484000"}]},
		"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-us","code":"I10"}],"text":"Hypertension"},
		"bodySite":[{"text":"left ear"}],
		"subject":{"reference":"Patient/p1"},
		"encounter":{"reference":"Encounter/e1"},
		"recordedDate":"2024-01-01",
		"recorder":{"reference":"PractitionerRole/r1","display":"Dr A"},
		"asserter":{"reference":"Practitioner/a1"},
		"stage":[{"summary":{"text":"II"}}],
		"evidence":[{"detail":[{"reference":"Observation/o1"}]}],
		"note":[{"text":"note"}]}`)
	want := clinicalCanon(t, `{"id":"c1","identifiers":[{"system":"urn:x","value":"1"}],
		"categories":[{"codings":[{"system":"http://terminology.hl7.org/CodeSystem/condition-category","code":"encounter-diagnosis"}]}],
		"severity":{"codings":[{"system":"http://snomed.info/sct","system_name":"snomed","code":"24484000"}]},
		"code":{"codings":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","system_name":"icd10cm","code":"I10"}],"text":"Hypertension"},
		"body_sites":[{"text":"left ear"}],
		"patient":{"resource":"patients","id":"p1"},
		"encounter":{"resource":"encounters","id":"e1"},
		"recorded_at":"2024-01-01",
		"recorder":{"display":"Dr A"},
		"updated_at":"2024-01-02T03:04:05Z"}`)
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestConditionSubject(t *testing.T) {
	for subject, want := range map[string]*unified.Reference{
		`{"reference":"Patient/p1"}`:             {Resource: unified.Patients, ID: "p1"},
		`{"reference":"Group/g1","display":"G"}`: nil,
		`{"reference":"urn:uuid:0000"}`:          nil,
	} {
		c := clinicalMap[unified.Condition](t, unified.Conditions, `{"resourceType":"Condition","id":"c1","subject":`+subject+`}`)
		if !reflect.DeepEqual(c.Patient, want) {
			t.Errorf("subject %s: patient %+v, want %+v", subject, c.Patient, want)
		}
	}
}

// FuzzMapCondition fuzzes the Condition mapping (see clinicalFuzz).
//
// Run with: go test ./connectors/fhir -run '^$' -fuzz FuzzMapCondition -fuzztime 30s
func FuzzMapCondition(f *testing.F) {
	clinicalFuzz[fhirCondition, unified.Condition](f, unified.Conditions,
		``, `{"resourceType":"Condition"}`,
		`{"resourceType":"Condition","onsetPeriod":null,"onsetDateTime":"","abatementPeriod":{"start":"x"}}`,
		`{"resourceType":"Condition","clinicalStatus":{"coding":[null,{"code":""}]},"subject":{"reference":"Group/"}}`,
		`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Condition","id":"c"}},{"resource":{"resourceType":"Encounter","id":"e","period":{"start":"x"}}}]}`,
	)
}
