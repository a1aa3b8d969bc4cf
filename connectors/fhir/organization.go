package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirOrganization, unified.Organization]("Organization")
	register(&resourceMap{
		resource: unified.Organizations,
		fhirType: "Organization",
		params: []searchParam{
			{name: "name", fhir: "name", kind: paramString},
			{name: "identifier", fhir: "identifier", kind: paramToken},
			updatedParam(),
		},
		record: c.record,
		page:   c.page,
	})
}

// fhirOrganization holds only the fields of an R4 Organization that the
// mapping uses.
type fhirOrganization struct {
	resourceHead
	Identifier []fhirIdentifier      `json:"identifier"`
	Active     *bool                 `json:"active"`
	Type       []fhirCodeableConcept `json:"type"`
	Name       string                `json:"name"`
	Alias      []string              `json:"alias"`
	Telecom    []fhirContactPoint    `json:"telecom"`
	Address    []fhirAddress         `json:"address"`
	PartOf     fhirReference         `json:"partOf"`
}

func (o *fhirOrganization) reset() {
	*o = fhirOrganization{
		Identifier: reuse(o.Identifier),
		Type:       reuse(o.Type),
		Alias:      clearList(o.Alias),
		Telecom:    clearList(o.Telecom),
		Address:    reuse(o.Address),
	}
}

// unified maps the Organization. Its contacts (a press office, an admin
// person) are people to reach about the organization, not the
// organization's own telecom, and are left to raw.
func (o *fhirOrganization) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Organization {
	u := unified.Organization{
		ID:          o.ID,
		Identifiers: m.npiIdentifiers(o.Identifier),
		Active:      o.Active,
		Types:       m.conceptList(o.Type),
		Name:        o.Name,
		Telecom:     m.contactPointList(o.Telecom),
		Addresses:   m.addressList(o.Address),
		PartOf:      m.referenceTo(&o.PartOf, unified.Organizations),
		UpdatedAt:   o.updated(),
		Source:      src,
		Raw:         raw,
	}
	for _, a := range o.Alias {
		if a != "" {
			u.Aliases = append(u.Aliases, a)
		}
	}
	return u
}
