package fhir

import (
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestImmunizationCapability(t *testing.T) {
	clinicalCapability(t, unified.Immunizations,
		[]string{"patient_id", "code", "status", "date_gte", "date_lt", "updated_gte", "sort"},
		[]string{"patient_id"})
}

func TestImmunizationSearch(t *testing.T) {
	params := clinicalFilters("patient_id", "date_gte", "date_lt", "updated_gte")
	params["code"] = "http://hl7.org/fhir/sid/cvx|140"
	params["status"] = "completed"
	clinicalWantQuery(t, unified.Immunizations, params, "Immunization",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "vaccine-code", Value: "http://hl7.org/fhir/sid/cvx|140"},
		connectors.Param{Name: "status", Value: "completed"},
		connectors.Param{Name: "date", Value: "ge2020-01"},
		connectors.Param{Name: "date", Value: "lt2021-03-04T05:06:07Z"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-05-06"},
	)
	// Immunization has no category.
	clinicalWantRefused(t, unified.Immunizations, clinicalFilters("patient_id", "category"), connectors.CodeUnsupported, "category")
	clinicalWantRefused(t, unified.Immunizations, clinicalFilters("code"), connectors.CodeInvalidArgument, "patient_id")
}

func TestImmunizationFields(t *testing.T) {
	got := clinicalMapJSON(t, unified.Immunizations, `{"resourceType":"Immunization","id":"i1","meta":{"lastUpdated":"2024-01-02"},
		"identifier":[{"value":"x"}],
		"status":"not-done","statusReason":{"coding":[{"code":"PATOBJ"}]},
		"vaccineCode":{"coding":[{"system":"urn:oid:2.16.840.1.113883.12.292","code":"140"},{"system":"urn:oid:2.16.840.1.113883.6.69","code":"49281-0703-55"}]},
		"patient":{"reference":"Patient/p1","display":"P"},
		"encounter":{"reference":"Encounter/e1"},
		"occurrenceDateTime":"2020-10-01T09:00:00-04:00","recorded":"2020-10-02",
		"primarySource":false,
		"location":{"reference":"Location/l1"},
		"manufacturer":{"reference":"Organization/m1"},
		"lotNumber":"L1","expirationDate":"2021-01",
		"site":{"text":"left deltoid"},"route":{"text":"IM"},
		"doseQuantity":{"value":0.5,"unit":"mL","system":"http://unitsofmeasure.org","code":"mL"},
		"performer":[
			{"function":{"text":"OP"},"actor":{"reference":"Practitioner/d1"}},
			{"function":{"text":"AP"},"actor":{"reference":"Practitioner/d1"}},
			{"function":{"text":"AP"}},
			{"actor":{"reference":"Organization/o1","display":"Clinic"}},
			{"actor":{"reference":"PractitionerRole/r1"}}
		],
		"protocolApplied":[{"doseNumberPositiveInt":1}]}`)
	want := clinicalCanon(t, `{"id":"i1","identifiers":[{"value":"x"}],
		"status":"not-done","status_reason":{"codings":[{"code":"PATOBJ"}]},
		"vaccine_code":{"codings":[{"system":"http://hl7.org/fhir/sid/cvx","system_name":"cvx","code":"140"},{"system":"http://hl7.org/fhir/sid/ndc","system_name":"ndc","code":"49281-0703-55"}]},
		"patient":{"resource":"patients","id":"p1","display":"P"},
		"encounter":{"resource":"encounters","id":"e1"},
		"occurrence_at":"2020-10-01T09:00:00-04:00","recorded_at":"2020-10-02",
		"primary_source":false,
		"location":{"resource":"locations","id":"l1"},
		"lot_number":"L1","expiration_date":"2021-01",
		"site":{"text":"left deltoid"},"route":{"text":"IM"},
		"dose_quantity":{"value":0.5,"unit":"mL","system":"http://unitsofmeasure.org","code":"mL"},
		"performers":[{"resource":"practitioners","id":"d1"},{"resource":"organizations","id":"o1","display":"Clinic"}],
		"updated_at":"2024-01-02"}`)
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestImmunizationOccurrence(t *testing.T) {
	tests := []struct {
		fields   string
		at       string
		location *unified.Reference
	}{
		{`"occurrenceDateTime":"2013"`, "2013", nil},
		// occurrenceString names no date the unified record can hold.
		{`"occurrenceString":"January 2012"`, "", nil},
		// A location that is not a Location is not kept as one.
		{`"location":{"reference":"Organization/o1"}`, "", nil},
		{`"location":{"display":"Clinic"}`, "", &unified.Reference{Display: "Clinic"}},
	}
	for _, tt := range tests {
		i := clinicalMap[unified.Immunization](t, unified.Immunizations, `{"resourceType":"Immunization","id":"i1",`+tt.fields+`}`)
		if i.OccurrenceAt != tt.at || !reflect.DeepEqual(i.Location, tt.location) || i.PrimarySource != nil {
			t.Errorf("%s: occurrence %q location %+v primary %v", tt.fields, i.OccurrenceAt, i.Location, i.PrimarySource)
		}
	}
}

// FuzzMapImmunization fuzzes the Immunization mapping (see clinicalFuzz).
//
// Run with: go test ./connectors/fhir -run '^$' -fuzz FuzzMapImmunization -fuzztime 30s
func FuzzMapImmunization(f *testing.F) {
	clinicalFuzz[fhirImmunization, unified.Immunization](f, unified.Immunizations,
		``, `{"resourceType":"Immunization"}`,
		`{"resourceType":"Immunization","performer":[null,{"actor":null},{"actor":{"reference":"Practitioner/a"}},{"actor":{"reference":"Practitioner/a"}}]}`,
		`{"resourceType":"Immunization","primarySource":null,"doseQuantity":{"value":-0}}`,
	)
}
