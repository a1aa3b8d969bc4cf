package fhir

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// templates describe, for a connection with settings s, the request every
// read and every first search page begins with, so that the host can make
// it before the call and save the plugin a round trip (see
// connectors.SourceTemplate). They are derived from the same mapping tables
// the requests are built from (resourceMap.params, include, subjectSearch),
// so a change to one is a change to both; TestTemplatesMatchRequests holds
// them to what Read and Search actually send.
func templates(s *Settings) []connectors.SourceTemplate {
	out := make([]connectors.SourceTemplate, 0, len(resourceMaps))
	for _, r := range unified.ResourceTypes() {
		m, ok := resourceMaps[r]
		if !ok {
			continue
		}
		out = append(out, connectors.SourceTemplate{
			Resource: r,
			Read:     &connectors.RequestTemplate{Path: m.fhirType + "/{id}", Header: acceptHeader()},
			Search:   m.searchTemplate(s),
		})
	}
	return out
}

// searchTemplate mirrors resourceMap.query for a first page.
func (m *resourceMap) searchTemplate(s *Settings) *connectors.RequestTemplate {
	t := &connectors.RequestTemplate{Path: m.fhirType, Header: acceptHeader()}
	for _, p := range m.params {
		if p.kind == paramSort {
			// The value is translated, not prefixed, which a template
			// cannot say: an ordered search (a change poll) is not
			// prefetched.
			continue
		}
		q := connectors.QueryTemplate{Name: p.fhir, Filter: p.name}
		switch p.kind {
		case paramString:
			q.Encoding = connectors.EncodeFHIRString
		case paramToken:
			q.Encoding = connectors.EncodeFHIRToken
		case paramDateGE:
			q.Value = "ge"
		case paramDateLT:
			q.Value = "lt"
		}
		if p.kind == paramID && p.name == unified.FilterPatientID && s != nil && s.PatientSearch == PatientSearchSubject {
			q.Value = "Patient/"
			if alt, ok := subjectSearch[m.fhirType]; ok {
				q.Name = alt
			}
		}
		t.Query = append(t.Query, q)
	}
	for _, inc := range m.include {
		t.Query = append(t.Query, connectors.QueryTemplate{Name: "_include", Value: inc})
	}
	t.Query = append(t.Query, connectors.QueryTemplate{Name: "_count", Limit: true})
	return t
}
