package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	register(&resourceMap{
		resource: unified.Organizations,
		fhirType: "Organization",
		params: []searchParam{
			{name: "name", fhir: "name", kind: paramString},
			{name: "identifier", fhir: "identifier", kind: paramToken},
			updatedParam(),
		},
		record: mapRecord[fhirOrganization, unified.Organization]("Organization"),
		page:   mapPage[fhirOrganization, unified.Organization]("Organization"),
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
	PartOf     *fhirReference        `json:"partOf"`
}

// unified maps the Organization. Its contacts (a press office, an admin
// person) are people to reach about the organization, not the
// organization's own telecom, and are left to raw.
func (o *fhirOrganization) unified(src unified.Source, raw json.RawMessage) unified.Organization {
	u := unified.Organization{
		ID:          o.ID,
		Identifiers: practitionerIdentifiers(o.Identifier),
		Active:      o.Active,
		Types:       concepts(o.Type),
		Name:        o.Name,
		Telecom:     contactPoints(o.Telecom),
		Addresses:   addresses(o.Address),
		PartOf:      referenceTo(o.PartOf, unified.Organizations),
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
