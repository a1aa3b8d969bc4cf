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

// The helpers below serve the tests of the administrative resources:
// practitioners, organizations, locations, encounters, appointments and
// coverages.

// adminQuery runs a search of resource with params and a limit of 5 against
// a source that answers an empty page, and returns the path and query the
// connector sent. A refused search returns its error and sends nothing.
func adminQuery(t *testing.T, resource unified.ResourceType, params map[string]string) (string, []connectors.Param, error) {
	t.Helper()
	c := configured(t, "")
	tr := answer(200, bundleJSON("", "", 0))
	_, err := c.Search(context.Background(), &connectors.SearchRequest{ConnectionID: "c1", Resource: resource, Params: params, Limit: 5, Transport: tr})
	if err != nil {
		if len(tr.reqs) != 0 {
			t.Errorf("a request was sent for a refused %s search", resource)
		}
		return "", nil, err
	}
	req := tr.last(t)
	return req.Path, req.Query, nil
}

// adminWantQuery checks that a search of resource with params sends path
// with query, the page size last.
func adminWantQuery(t *testing.T, resource unified.ResourceType, params map[string]string, path string, query ...connectors.Param) {
	t.Helper()
	gotPath, got, err := adminQuery(t, resource, params)
	if err != nil {
		t.Fatalf("search %s %v: %v", resource, params, err)
	}
	want := append(query, connectors.Param{Name: "_count", Value: "5"})
	if gotPath != path || !reflect.DeepEqual(got, want) {
		t.Errorf("search %s %v sent %s %v, want %s %v", resource, params, gotPath, got, path, want)
	}
}

// adminCapability checks the manifest entry of resource.
func adminCapability(t *testing.T, resource unified.ResourceType, params, required []string) {
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

// adminMap maps one resource as a read of it would, and decodes the result.
func adminMap[U any](t *testing.T, resource unified.ResourceType, body string) U {
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

// adminSource is the provenance adminMap gives a record with this id.
func adminSource(id string) unified.Source {
	src := goldenSource
	src.SourceID = id
	return src
}

func TestPractitionerSearch(t *testing.T) {
	adminCapability(t, unified.Practitioners, []string{"name", "identifier", "updated_gte", "sort"}, nil)
	adminWantQuery(t, unified.Practitioners,
		map[string]string{"name": "van den, Broek", "identifier": "http://hl7.org/fhir/sid/us-npi|120", "updated_gte": "2024-01-02"},
		"Practitioner",
		connectors.Param{Name: "name", Value: `van den\, Broek`},
		connectors.Param{Name: "identifier", Value: "http://hl7.org/fhir/sid/us-npi|120"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-01-02"},
	)
	for _, params := range []map[string]string{{"patient_id": "p1"}, {"status": "active"}} {
		_, _, err := adminQuery(t, unified.Practitioners, params)
		for name := range params {
			wantCode(t, err, connectors.CodeUnsupported, name)
		}
	}
	_, _, err := adminQuery(t, unified.Practitioners, map[string]string{"identifier": "a|b|c"})
	wantCode(t, err, connectors.CodeInvalidArgument, "identifier")
}

func TestPractitionerMapping(t *testing.T) {
	p := adminMap[unified.Practitioner](t, unified.Practitioners, `{
		"resourceType": "Practitioner", "id": "dr1",
		"meta": {"lastUpdated": "2024-05-06T07:08:09Z"},
		"identifier": [
			{"system": "urn:oid:2.16.840.1.113883.4.6", "value": "1234567893"},
			{"system": "http://example.org/staff", "value": ""},
			{"system": "http://example.org/staff", "value": "s-1"}
		],
		"active": false,
		"name": [{}, {"text": "Dr Who"}],
		"telecom": [{"system": "phone"}],
		"qualification": [
			{"identifier": [{"value": "x"}]},
			{"code": {"coding": [{}]}},
			{"code": {"text": "MD"}}
		]
	}`)
	want := unified.Practitioner{
		ID: "dr1",
		Identifiers: []unified.Identifier{
			{System: unified.SystemNPI, Value: "1234567893"},
			{System: "http://example.org/staff", Value: "s-1"},
		},
		Active:         new(false),
		Names:          []unified.HumanName{{Text: "Dr Who"}},
		Qualifications: []unified.CodeableConcept{{Text: "MD"}},
		UpdatedAt:      "2024-05-06T07:08:09Z",
		Source:         adminSource("dr1"),
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("mapped\n%+v\nwant\n%+v", p, want)
	}
}
