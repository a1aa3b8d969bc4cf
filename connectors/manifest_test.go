package connectors

import (
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

func TestManifestValidate(t *testing.T) {
	good := func() *MetadataResponse {
		return &MetadataResponse{Kind: "acme-ehr", Version: "1.2.3", Resources: []ResourceCapability{
			{Resource: unified.Patients, Read: true, Search: true, SearchParams: []string{"name", "birth_date", "updated_gte"}, RequiredParams: []string{"name"}},
			{Resource: unified.Observations, Read: true, Create: true, Update: true},
		}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("valid manifest refused: %v", err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*MetadataResponse)
		want   string
	}{
		{"no kind", func(m *MetadataResponse) { m.Kind = "" }, "kind"},
		{"kind case", func(m *MetadataResponse) { m.Kind = "Acme" }, "kind"},
		{"no version", func(m *MetadataResponse) { m.Version = "" }, "version"},
		{"no resources", func(m *MetadataResponse) { m.Resources = nil }, "none listed"},
		{"unknown resource", func(m *MetadataResponse) { m.Resources[1].Resource = "patient" }, `"patient": not a unified resource`},
		{"duplicate resource", func(m *MetadataResponse) { m.Resources[1].Resource = unified.Patients }, "listed twice"},
		{"no operation", func(m *MetadataResponse) { m.Resources[1].Read = false }, "neither read nor search"},
		{"write of a read-only resource", func(m *MetadataResponse) { m.Resources[0].Create = true }, "does not write it"},
		{"write without read", func(m *MetadataResponse) { m.Resources[1].Read, m.Resources[1].Search = false, true }, "not readable"},
		{"params without search", func(m *MetadataResponse) { m.Resources[1].SearchParams = []string{"code"} }, "search is not offered"},
		{"reserved", func(m *MetadataResponse) { m.Resources[0].SearchParams = append(m.Resources[0].SearchParams, "limit") }, "reserved"},
		{"bad name", func(m *MetadataResponse) {
			m.Resources[0].SearchParams = append(m.Resources[0].SearchParams, "Birth-Date")
		}, "want [a-z]"},
		{"duplicate param", func(m *MetadataResponse) { m.Resources[0].SearchParams = append(m.Resources[0].SearchParams, "name") }, "listed twice"},
		{"range lookalike", func(m *MetadataResponse) {
			m.Resources[0].SearchParams = append(m.Resources[0].SearchParams, "birth_date_gte")
		}, "range filter"},
		{"required not declared", func(m *MetadataResponse) { m.Resources[0].RequiredParams = []string{"patient_id"} }, `"patient_id" is not among`},
	} {
		m := good()
		c.mutate(m)
		err := m.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// Every problem is reported at once.
	m := good()
	m.Kind, m.Version = "", ""
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "kind") || !strings.Contains(err.Error(), "version") {
		t.Fatalf("not every problem reported: %v", err)
	}
}
