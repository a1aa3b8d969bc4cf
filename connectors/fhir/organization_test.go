package fhir

import (
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestOrganizationSearch(t *testing.T) {
	adminCapability(t, unified.Organizations, []string{"name", "identifier", "updated_gte", "sort"}, nil)
	adminWantQuery(t, unified.Organizations,
		map[string]string{"name": "Burgers $UMC", "identifier": "urn:oid:2.16.528.1|91654", "updated_gte": "2024-01-02T03:04:05Z"},
		"Organization",
		connectors.Param{Name: "name", Value: `Burgers \$UMC`},
		connectors.Param{Name: "identifier", Value: "urn:oid:2.16.528.1|91654"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-01-02T03:04:05Z"},
	)
	adminWantQuery(t, unified.Organizations, map[string]string{"identifier": "91654"}, "Organization",
		connectors.Param{Name: "identifier", Value: "91654"})
	_, _, err := adminQuery(t, unified.Organizations, map[string]string{"code": "prov"})
	wantCode(t, err, connectors.CodeUnsupported, "code")
}

func TestOrganizationMapping(t *testing.T) {
	o := adminMap[unified.Organization](t, unified.Organizations, `{
		"resourceType": "Organization", "id": "o1",
		"meta": {"lastUpdated": "2024-05-06"},
		"identifier": [{"system": "urn:oid:2.16.840.1.113883.4.6", "value": "1497758544"}],
		"type": [{}, {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}],
		"name": "Payer",
		"alias": ["", "P"],
		"address": [{}, {"city": "Ann Arbor"}],
		"contact": [{"telecom": [{"system": "phone", "value": "1"}]}]
	}`)
	want := unified.Organization{
		ID:          "o1",
		Identifiers: []unified.Identifier{{System: unified.SystemNPI, Value: "1497758544"}},
		Types: []unified.CodeableConcept{{Codings: []unified.Coding{
			{System: "http://terminology.hl7.org/CodeSystem/organization-type", Code: "pay"},
		}}},
		Name:      "Payer",
		Aliases:   []string{"P"},
		Addresses: []unified.Address{{City: "Ann Arbor"}},
		UpdatedAt: "2024-05-06",
		Source:    adminSource("o1"),
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("mapped\n%+v\nwant\n%+v", o, want)
	}

	// partOf is another Organization; a reference of another type is not
	// one, and one that cannot be followed keeps its display.
	for partOf, want := range map[string]*unified.Reference{
		`{"reference": "Organization/f001"}`:               {Resource: unified.Organizations, ID: "f001"},
		`{"reference": "Location/1"}`:                      nil,
		`{"reference": "http://x.example/Organization/1"}`: nil,
		`{"reference": "#o2", "display": "Ward"}`:          {Display: "Ward"},
	} {
		o := adminMap[unified.Organization](t, unified.Organizations, `{"resourceType": "Organization", "id": "o1", "partOf": `+partOf+`}`)
		if !reflect.DeepEqual(o.PartOf, want) {
			t.Errorf("partOf %s mapped to %+v, want %+v", partOf, o.PartOf, want)
		}
	}
}
