package fhir

import (
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestProcedureCapability(t *testing.T) {
	careCapability(t, unified.Procedures,
		[]string{"patient_id", "code", "category", "status", "date_gte", "date_lt", "updated_gte", "sort"},
		[]string{"patient_id"})
}

func TestProcedureSearch(t *testing.T) {
	params := careAllFilters("http://snomed.info/sct|80146002", "http://snomed.info/sct|387713003", "completed")
	careWantQuery(t, unified.Procedures, params, "Procedure",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "code", Value: "http://snomed.info/sct|80146002"},
		connectors.Param{Name: "category", Value: "http://snomed.info/sct|387713003"},
		connectors.Param{Name: "status", Value: "completed"},
		connectors.Param{Name: "date", Value: "ge2020-01"},
		connectors.Param{Name: "date", Value: "lt2021-03-04T05:06:07Z"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-05-06"},
	)
	// A value with FHIR's separators is one value.
	careWantQuery(t, unified.Procedures, map[string]string{"patient_id": "p1", "code": "a,b"}, "Procedure",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "code", Value: `a\,b`},
	)
	careRefusals(t, unified.Procedures)
}

func TestProcedurePerformed(t *testing.T) {
	tests := []struct {
		name, fields string
		at           string
		period       *unified.Period
	}{
		{"dateTime", `"performedDateTime":"2013-01"`, "2013-01", nil},
		{"period", `"performedPeriod":{"start":"2013-01-28T13:31:00+01:00"}`, "", &unified.Period{Start: "2013-01-28T13:31:00+01:00"}},
		{"empty period", `"performedPeriod":{}`, "", nil},
		// A string, an age or a range names no date: nothing is invented.
		{"string", `"performedString":"about 3 years ago"`, "", nil},
		{"age", `"performedAge":{"value":52,"unit":"years","system":"http://unitsofmeasure.org","code":"a"}`, "", nil},
		{"range", `"performedRange":{"low":{"value":50,"code":"a"}}`, "", nil},
	}
	for _, tt := range tests {
		p := careMap[unified.Procedure](t, unified.Procedures, `{"resourceType":"Procedure","id":"p1",`+tt.fields+`}`)
		if p.PerformedAt != tt.at || !reflect.DeepEqual(p.PerformedPeriod, tt.period) {
			t.Errorf("%s: performed %q %+v, want %q %+v", tt.name, p.PerformedAt, p.PerformedPeriod, tt.at, tt.period)
		}
	}
}

func TestProcedureReferences(t *testing.T) {
	p := careMap[unified.Procedure](t, unified.Procedures, `{"resourceType":"Procedure","id":"p1","status":"completed",
		"text":{"status":"generated","div":"<div>narrative</div>"},
		"subject":{"reference":"Group/g1","display":"ward 3"},
		"encounter":{"reference":"Observation/o1","display":"not an encounter"},
		"location":{"reference":"Organization/o1"},
		"performer":[{"function":{"text":"surgeon"}},{"actor":{"reference":"Practitioner/dr1"}},{"actor":{"reference":"#c1"}},{"actor":{"reference":"Device/d1","display":"robot"}}],
		"reasonReference":[{"reference":"Condition/c1"}],
		"category":{},"outcome":{"coding":[{}]},"bodySite":[{},{"text":"arm"}],
		"extension":[{"url":"x","valueString":"y"}]}`)
	want := unified.Procedure{
		ID: "p1", Status: "completed",
		Performers: []unified.Reference{{Resource: unified.Practitioners, ID: "dr1"}, {Display: "robot"}},
		BodySites:  []unified.CodeableConcept{{Text: "arm"}},
		Source:     p.Source,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func TestProcedurePage(t *testing.T) {
	for _, raw := range []bool{false, true} {
		ps := carePage[unified.Procedure](t, unified.Procedures, raw,
			matchEntry(`{"resourceType":"Procedure","id":"a","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`),
			`{"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}}`,
			matchEntry(`{"resourceType":"Observation","id":"o1","code":7}`),
			matchEntry(`{"resourceType":"Procedure","id":"b"}`),
		)
		if len(ps) != 2 || ps[0].ID != "a" || ps[0].Code.Text != "x" || ps[0].Patient.ID != "p1" || ps[1].ID != "b" {
			t.Errorf("raw %v: %+v", raw, ps)
		}
	}
	_, _, err := resourceMaps[unified.Procedures].page([]byte(bundleJSON("", "", -1, matchEntry(`{"resourceType":"Procedure","code":[]}`))), goldenSource, false)
	wantCode(t, err, connectors.CodeUpstream, "")
}
