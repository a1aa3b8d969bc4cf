package fhir

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestEncounterSearch(t *testing.T) {
	adminCapability(t, unified.Encounters,
		[]string{"patient_id", "date_gte", "date_lt", "status", "category", "code", "updated_gte", "sort"}, []string{"patient_id"})
	adminWantQuery(t, unified.Encounters,
		map[string]string{
			"patient_id": "p1", "date_gte": "2020-01-01", "date_lt": "2021-01-01T00:00:00Z", "status": "finished",
			"category": "http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB", "code": "http://snomed.info/sct|185349003",
			"updated_gte": "2024-01-02",
		},
		"Encounter",
		connectors.Param{Name: "patient", Value: "p1"},
		connectors.Param{Name: "date", Value: "ge2020-01-01"},
		connectors.Param{Name: "date", Value: "lt2021-01-01T00:00:00Z"},
		connectors.Param{Name: "status", Value: "finished"},
		connectors.Param{Name: "class", Value: "http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB"},
		connectors.Param{Name: "type", Value: "http://snomed.info/sct|185349003"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-01-02"},
	)
	adminWantQuery(t, unified.Encounters, map[string]string{"patient_id": "p1", "category": "EMER"}, "Encounter",
		connectors.Param{Name: "patient", Value: "p1"}, connectors.Param{Name: "class", Value: "EMER"})

	// patient_id is required: an encounter search across patients is
	// refused before anything is sent.
	for _, params := range []map[string]string{nil, {"status": "finished"}, {"patient_id": ""}} {
		_, _, err := adminQuery(t, unified.Encounters, params)
		wantCode(t, err, connectors.CodeInvalidArgument, "patient_id")
	}
	for param, params := range map[string]map[string]string{
		"patient_id": {"patient_id": "Patient/p1"},
		"date_gte":   {"patient_id": "p1", "date_gte": "2020-13-01"},
		"date_lt":    {"patient_id": "p1", "date_lt": "ge2020"},
	} {
		_, _, err := adminQuery(t, unified.Encounters, params)
		wantCode(t, err, connectors.CodeInvalidArgument, param)
	}
}

func TestEncounterMapping(t *testing.T) {
	e := adminMap[unified.Encounter](t, unified.Encounters, `{
		"resourceType": "Encounter", "id": "e1",
		"meta": {"lastUpdated": "2024-05-06T07:08:09Z"},
		"status": "in-progress",
		"class": {},
		"serviceType": {"coding": [{"system": "http://snomed.info/sct", "code": "394802001", "display": "General medicine"}]},
		"subject": {"reference": "Group/g1"},
		"participant": [
			{},
			{"individual": {"reference": "urn:uuid:0b2c"}},
			{"type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND"}]}],
			 "individual": {"reference": "PractitionerRole/r1"}},
			{"individual": {"reference": "RelatedPerson/rp1", "display": "Mother"}, "period": {"start": "2024-05-06"}}
		],
		"hospitalization": {"origin": {"reference": "Location/x"}},
		"location": [
			{"location": {"reference": "Location/bed1"}, "status": "active"},
			{"location": {"reference": "Organization/o1"}},
			{"location": {"reference": "Location/bed2", "display": "Bed 2"}},
			{"location": {"reference": "Location/bed1"}, "status": "completed"},
			{}
		],
		"serviceProvider": {"reference": "Patient/p1"}
	}`)
	want := unified.Encounter{
		ID:     "e1",
		Status: "in-progress",
		ServiceType: &unified.CodeableConcept{Codings: []unified.Coding{
			{System: unified.SystemSNOMED, SystemName: "snomed", Code: "394802001", Display: "General medicine"},
		}},
		Participants: []unified.EncounterParticipant{
			{Types: []unified.CodeableConcept{{Codings: []unified.Coding{
				{System: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", Code: "ATND"},
			}}}},
			{Individual: &unified.Reference{Display: "Mother"}, Period: &unified.Period{Start: "2024-05-06"}},
		},
		Locations: []unified.Reference{
			{Resource: unified.Locations, ID: "bed1"},
			{Resource: unified.Locations, ID: "bed2", Display: "Bed 2"},
		},
		UpdatedAt: "2024-05-06T07:08:09Z",
		Source:    adminSource("e1"),
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("mapped\n%+v\nwant\n%+v", e, want)
	}
}

func TestEncounterSearchPage(t *testing.T) {
	// A page of encounters with an included patient and an outcome: only
	// the matches are records, mapped like a read.
	body := bundleJSON("", "", 2,
		`{"resource":{"resourceType":"Encounter","id":"e1","status":"finished","subject":{"reference":"Patient/p1"}},"search":{"mode":"match"}}`,
		patientEntry("p1"),
		`{"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}`,
		`{"resource":{"resourceType":"Encounter","id":"e2","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"}}}`,
	)
	c := configured(t, "")
	for _, raw := range []bool{false, true} {
		resp, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Encounters,
			Params: map[string]string{"patient_id": "p1"}, Limit: 5, Raw: raw, Transport: answer(200, body)})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range resp.Records {
			var e unified.Encounter
			if err := json.Unmarshal(r, &e); err != nil {
				t.Fatal(err)
			}
			if e.Patient == nil || e.Patient.ID != "p1" || e.Source.SourceID != e.ID || (len(e.Raw) != 0) != raw {
				t.Errorf("raw %v: record %s", raw, r)
			}
			ids = append(ids, e.ID)
		}
		if !slices.Equal(ids, []string{"e1", "e2"}) {
			t.Errorf("raw %v: records %v", raw, ids)
		}
	}
}
