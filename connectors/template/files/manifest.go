package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// searchFilters are the patient search parameters: the unified name a client
// uses, and the source's query parameter it becomes.
var searchFilters = []struct{ param, source string }{
	{"name", "family"},
	{"birth_date", "birth_date"},
	{"identifier", "mrn"},
}

// manifest is what the connector offers. The host builds routing, filter
// checks and GET /v1/{connection_id}/capabilities from it; the conformance
// kit and the host both validate it (connectors.MetadataResponse.Validate).
func manifest() *connectors.MetadataResponse {
	patients := connectors.ResourceCapability{Resource: unified.Patients, Read: true, Search: true}
	for _, f := range searchFilters {
		patients.SearchParams = append(patients.SearchParams, f.param)
	}
	return &connectors.MetadataResponse{
		Kind:      Kind,
		Version:   Version,
		Resources: []connectors.ResourceCapability{patients},
		AuthKinds: []string{"bearer", "api_key"},
	}
}
