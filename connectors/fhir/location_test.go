package fhir

import (
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestLocationSearch(t *testing.T) {
	adminCapability(t, unified.Locations, []string{"name", "identifier", "status", "updated_gte", "sort"}, nil)
	adminWantQuery(t, unified.Locations,
		map[string]string{"name": "South Wing", "identifier": "B1-S.F2", "status": "suspended", "updated_gte": "2024"},
		"Location",
		connectors.Param{Name: "name", Value: "South Wing"},
		connectors.Param{Name: "identifier", Value: "B1-S.F2"},
		connectors.Param{Name: "status", Value: "suspended"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024"},
	)
	_, _, err := adminQuery(t, unified.Locations, map[string]string{"updated_gte": "last week"})
	wantCode(t, err, connectors.CodeInvalidArgument, "updated_gte")
}

func TestLocationMapping(t *testing.T) {
	l := adminMap[unified.Location](t, unified.Locations, `{
		"resourceType": "Location", "id": "l1",
		"meta": {"lastUpdated": "2024-05-06T07:08:09.123+02:00"},
		"status": "inactive",
		"mode": "kind",
		"type": [{"text": "Pharmacy"}],
		"address": {"line": []},
		"position": {"latitude": 0, "longitude": 0},
		"managingOrganization": {"reference": "Practitioner/dr1"},
		"partOf": {"reference": "Location/l0/_history/3"}
	}`)
	want := unified.Location{
		ID:        "l1",
		Status:    "inactive",
		Mode:      "kind",
		Types:     []unified.CodeableConcept{{Text: "Pharmacy"}},
		Position:  &unified.Position{},
		PartOf:    &unified.Reference{Resource: unified.Locations, ID: "l0"},
		UpdatedAt: "2024-05-06T07:08:09.123+02:00",
		Source:    adminSource("l1"),
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("mapped\n%+v\nwant\n%+v", l, want)
	}

	// A position needs both coordinates; the altitude is optional.
	for pos, want := range map[string]*unified.Position{
		`{"latitude": 42.25, "longitude": -83.69}`:                   {Latitude: 42.25, Longitude: -83.69},
		`{"latitude": 42.25, "longitude": -83.69, "altitude": 12.5}`: {Latitude: 42.25, Longitude: -83.69, Altitude: new(12.5)},
		`{"latitude": 42.25}`:                                        nil,
		`{"longitude": -83.69, "altitude": 0}`:                       nil,
		`{}`:                                                         nil,
	} {
		l := adminMap[unified.Location](t, unified.Locations, `{"resourceType": "Location", "id": "l1", "position": `+pos+`}`)
		if !reflect.DeepEqual(l.Position, want) {
			t.Errorf("position %s mapped to %+v, want %+v", pos, l.Position, want)
		}
	}
}
