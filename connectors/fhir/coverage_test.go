package fhir

import (
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestCoverageSearch(t *testing.T) {
	adminCapability(t, unified.Coverages, []string{"patient_id", "status", "code", "updated_gte", "sort"}, []string{"patient_id"})
	adminWantQuery(t, unified.Coverages,
		map[string]string{"patient_id": "5", "status": "active", "code": "http://terminology.hl7.org/CodeSystem/v3-ActCode|EHCPOL", "updated_gte": "2024-01-02"},
		"Coverage",
		connectors.Param{Name: "patient", Value: "5"},
		connectors.Param{Name: "status", Value: "active"},
		connectors.Param{Name: "type", Value: "http://terminology.hl7.org/CodeSystem/v3-ActCode|EHCPOL"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-01-02"},
	)
	_, _, err := adminQuery(t, unified.Coverages, map[string]string{"status": "active"})
	wantCode(t, err, connectors.CodeInvalidArgument, "patient_id")
	_, _, err = adminQuery(t, unified.Coverages, map[string]string{"patient_id": "5", "date_gte": "2024"})
	wantCode(t, err, connectors.CodeUnsupported, "date_gte")
}

func TestCoverageMapping(t *testing.T) {
	c := adminMap[unified.Coverage](t, unified.Coverages, `{
		"resourceType": "Coverage", "id": "c1",
		"meta": {"lastUpdated": "2024-05-06T07:08:09Z"},
		"status": "cancelled",
		"subscriber": {"reference": "RelatedPerson/rp1", "display": "Mother"},
		"beneficiary": {"reference": "Patient/p1"},
		"relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "child"}]},
		"payor": [{"identifier": {"value": "123"}}, {"reference": "Organization/ins", "display": "Insurer"}],
		"class": [{}, {"value": "G1"}, {"type": {"coding": [{"code": "plan"}]}, "value": "P1", "name": "Gold"}],
		"order": 1,
		"network": "in"
	}`)
	want := unified.Coverage{
		ID:         "c1",
		Status:     "cancelled",
		Patient:    &unified.Reference{Resource: unified.Patients, ID: "p1"},
		Subscriber: &unified.Reference{Display: "Mother"},
		Relationship: &unified.CodeableConcept{Codings: []unified.Coding{
			{System: "http://terminology.hl7.org/CodeSystem/subscriber-relationship", Code: "child"},
		}},
		Payors: []unified.Reference{{Resource: unified.Organizations, ID: "ins", Display: "Insurer"}},
		Classes: []unified.CoverageClass{
			{Value: "G1"},
			{Type: &unified.CodeableConcept{Codings: []unified.Coding{{Code: "plan"}}}, Value: "P1", Name: "Gold"},
		},
		Order:     new(1),
		Network:   "in",
		UpdatedAt: "2024-05-06T07:08:09Z",
		Source:    adminSource("c1"),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("mapped\n%+v\nwant\n%+v", c, want)
	}

	// The beneficiary is a Patient or nothing.
	c = adminMap[unified.Coverage](t, unified.Coverages, `{"resourceType": "Coverage", "id": "c2", "beneficiary": {"reference": "Organization/o1"}}`)
	if c.Patient != nil {
		t.Errorf("an Organization beneficiary mapped to patient %+v", c.Patient)
	}
}
