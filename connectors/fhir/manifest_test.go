package fhir

import (
	"context"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
)

// TestManifestValid: the host refuses a plugin whose manifest breaks the
// SDK's rules, so the FHIR connector's must pass them.
func TestManifestValid(t *testing.T) {
	m, err := New().Metadata(context.Background(), &connectors.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}
