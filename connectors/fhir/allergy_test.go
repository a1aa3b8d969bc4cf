package fhir

import (
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestAllergyCapability(t *testing.T) {
	clinicalCapability(t, unified.Allergies,
		[]string{"patient_id", "code", "category", "status", "date_gte", "date_lt", "updated_gte", "sort"},
		[]string{"patient_id"})
}

func TestAllergySearch(t *testing.T) {
	params := clinicalFilters("patient_id", "date_gte", "date_lt", "updated_gte")
	params["code"] = "http://www.nlm.nih.gov/research/umls/rxnorm|7980"
	params["category"] = "medication"
	params["status"] = "active"
	clinicalWantQuery(t, unified.Allergies, params, "AllergyIntolerance",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "code", Value: "http://www.nlm.nih.gov/research/umls/rxnorm|7980"},
		connectors.Param{Name: "category", Value: "medication"},
		connectors.Param{Name: "clinical-status", Value: "active"},
		connectors.Param{Name: "date", Value: "ge2020-01"},
		connectors.Param{Name: "date", Value: "lt2021-03-04T05:06:07Z"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-05-06"},
	)
	clinicalWantRefused(t, unified.Allergies, map[string]string{"code": "x"}, connectors.CodeInvalidArgument, "patient_id")
	clinicalWantRefused(t, unified.Allergies, map[string]string{"patient_id": "p1", "criticality": "high"}, connectors.CodeUnsupported, "criticality")
}

func TestAllergyFields(t *testing.T) {
	got := clinicalMapJSON(t, unified.Allergies, `{"resourceType":"AllergyIntolerance","id":"a1",
		"type":"intolerance","category":["food","","medication"],"criticality":"unable-to-assess",
		"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"resolved"}]},
		"verificationStatus":{"coding":[{"code":"refuted"}]},
		"code":{"coding":[{"system":"urn:oid:2.16.840.1.113883.6.88","code":"7980"}]},
		"patient":{"reference":"Patient/p1"},
		"encounter":{"reference":"Encounter/e1"},
		"onsetPeriod":{"start":"2001","end":"2002"},
		"recordedDate":"2003-04","lastOccurrence":"2004-05-06",
		"reaction":[
			{"description":"only words","exposureRoute":{"text":"oral"},"note":[{"text":"n"}]},
			{"substance":{"text":"penicillin"},"manifestation":[{"text":"hives"},{}],"severity":"mild","onset":"2004-05-06T07:08:09Z"}
		]}`)
	want := clinicalCanon(t, `{"id":"a1","type":"intolerance","categories":["food","medication"],"criticality":"unable-to-assess",
		"clinical_status":"resolved","verification_status":"refuted",
		"code":{"codings":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","system_name":"rxnorm","code":"7980"}]},
		"patient":{"resource":"patients","id":"p1"},
		"encounter":{"resource":"encounters","id":"e1"},
		"onset_at":"2001","recorded_at":"2003-04","last_occurrence_at":"2004-05-06",
		"reactions":[{"substance":{"text":"penicillin"},"manifestations":[{"text":"hives"}],"severity":"mild","onset_at":"2004-05-06T07:08:09Z"}]}`)
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAllergyOnset(t *testing.T) {
	for fields, want := range map[string]string{
		`"onsetDateTime":"2004"`:                              "2004",
		`"onsetPeriod":{"start":"2004-01"}`:                   "2004-01",
		`"onsetAge":{"value":3,"code":"a"}`:                   "",
		`"onsetRange":{"low":{"value":3,"code":"a"}}`:         "",
		`"onsetString":"as a child"`:                          "",
		`"onsetDateTime":"2004","onsetString":"as a child"`:   "2004",
		`"patient":{"reference":"Group/g1"},"onsetPeriod":{}`: "",
	} {
		a := clinicalMap[unified.Allergy](t, unified.Allergies, `{"resourceType":"AllergyIntolerance","id":"a1",`+fields+`}`)
		if a.OnsetAt != want || a.Patient != nil {
			t.Errorf("%s: onset %q patient %+v, want %q and no patient", fields, a.OnsetAt, a.Patient, want)
		}
	}
}

// FuzzMapAllergy fuzzes the AllergyIntolerance mapping (see clinicalFuzz).
//
// Run with: go test ./connectors/fhir -run '^$' -fuzz FuzzMapAllergy -fuzztime 30s
func FuzzMapAllergy(f *testing.F) {
	clinicalFuzz[fhirAllergyIntolerance, unified.Allergy](f, unified.Allergies,
		``, `{"resourceType":"AllergyIntolerance"}`,
		`{"resourceType":"AllergyIntolerance","category":[null,"food",1]}`,
		`{"resourceType":"AllergyIntolerance","reaction":[{},{"manifestation":null,"onset":"x"}]}`,
	)
}
