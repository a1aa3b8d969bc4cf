package fhir

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// firstRequest is a Transport that keeps the first request and answers
// every request with an empty searchset (or a 404 on a read).
type firstRequest struct {
	first *connectors.HTTPRequest
}

func (f *firstRequest) Do(_ context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	if f.first == nil {
		f.first = req
	}
	return &connectors.HTTPResponse{Status: 200, Body: []byte(`{"resourceType":"Bundle","type":"searchset","entry":[]}`)}, nil
}

// sampleFilter is a valid value of a filter, with the characters FHIR
// search escapes where the filter is free text.
func sampleFilter(p searchParam) string {
	switch p.kind {
	case paramToken:
		return "http://loinc.org|8867-4"
	case paramID:
		return "p-1"
	case paramDate, paramDateGE, paramDateLT:
		return "2024-03-07"
	case paramSort:
		return unified.SortUpdated
	}
	return `Smith, John $1|a\b`
}

// TestTemplatesMatchRequests: for every resource, both patient search
// modes, a read and searches with each filter alone and all together, the
// request the connection's template describes is exactly the first request
// the connector sends. A template that drifts from the mapping would make
// the host fetch, on every call, something the connector does not use.
func TestTemplatesMatchRequests(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []PatientSearch{PatientSearchPatient, PatientSearchSubject} {
		c := newConnector()
		settings, _ := json.Marshal(Settings{PatientSearch: mode})
		resp, err := c.Configure(ctx, &connectors.ConfigureRequest{ConnectionID: "c", Settings: settings})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Templates) != len(resourceMaps) {
			t.Fatalf("%d templates for %d resources", len(resp.Templates), len(resourceMaps))
		}
		for _, r := range unified.ResourceTypes() {
			m, ok := resourceMaps[r]
			if !ok {
				continue
			}
			tpl := resp.Template(r)
			if tpl == nil {
				t.Fatalf("%s: no template", r)
			}
			tr := &firstRequest{}
			_, _ = c.Read(ctx, &connectors.ReadRequest{ConnectionID: "c", Resource: r, ID: "abc-1.2", Transport: tr})
			want, ok := tpl.Read.ReadRequest("abc-1.2")
			if !ok || !sameRequest(tr.first, want) {
				t.Errorf("%s/%s read: connector sent %+v, template says %+v", mode, r, tr.first, want)
			}

			// Every search needs its required filters; try each optional
			// one beside them, then all of them.
			base := map[string]string{}
			for _, p := range m.params {
				if p.required {
					base[p.name] = sampleFilter(p)
				}
			}
			sets := []map[string]string{base}
			all := map[string]string{}
			for _, p := range m.params {
				all[p.name] = sampleFilter(p)
				one := map[string]string{p.name: sampleFilter(p)}
				for k, v := range base {
					one[k] = v
				}
				sets = append(sets, one)
			}
			sets = append(sets, all)
			for _, params := range sets {
				tr := &firstRequest{}
				if _, err := c.Search(ctx, &connectors.SearchRequest{ConnectionID: "c", Resource: r, Params: params, Limit: 37, Transport: tr}); err != nil {
					t.Fatalf("%s/%s search %v: %v", mode, r, params, err)
				}
				want, ok := tpl.Search.SearchRequest(params, 37)
				if _, ordered := params[unified.FilterSort]; ordered && !ok {
					continue // an ordered search is not prefetched: the template says so
				}
				if !ok || !sameRequest(tr.first, want) {
					t.Errorf("%s/%s search %v:\n connector sent %+v\n template says  %+v", mode, r, params, tr.first, want)
				}
			}
		}
	}
}

func sameRequest(got, want *connectors.HTTPRequest) bool {
	if got == nil || want == nil {
		return false
	}
	g, w := *got, *want
	if g.Method == "" {
		g.Method = "GET"
	}
	if len(g.Query) == 0 {
		g.Query = nil
	}
	if len(w.Query) == 0 {
		w.Query = nil
	}
	return reflect.DeepEqual(g, w)
}
