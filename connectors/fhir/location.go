package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirLocation, unified.Location]("Location")
	register(&resourceMap{
		resource: unified.Locations,
		fhirType: "Location",
		params: []searchParam{
			{name: "name", fhir: "name", kind: paramString},
			{name: "identifier", fhir: "identifier", kind: paramToken},
			tokenParam(unified.FilterStatus, "status"),
			updatedParam(),
		},
		record: c.record,
		page:   c.page,
	})
}

// fhirLocation holds only the fields of an R4 Location that the mapping
// uses.
type fhirLocation struct {
	resourceHead
	Identifier           []fhirIdentifier      `json:"identifier"`
	Status               string                `json:"status"`
	Name                 string                `json:"name"`
	Mode                 string                `json:"mode"`
	Type                 []fhirCodeableConcept `json:"type"`
	Telecom              []fhirContactPoint    `json:"telecom"`
	Address              fhirAddress           `json:"address"`
	Position             fhirPosition          `json:"position"`
	ManagingOrganization fhirReference         `json:"managingOrganization"`
	PartOf               fhirReference         `json:"partOf"`
}

func (l *fhirLocation) reset() {
	*l = fhirLocation{
		Identifier: reuse(l.Identifier),
		Type:       reuse(l.Type),
		Telecom:    clearList(l.Telecom),
		Address:    emptied(&l.Address),
	}
}

type fhirPosition struct {
	Longitude *float64 `json:"longitude"`
	Latitude  *float64 `json:"latitude"`
	Altitude  *float64 `json:"altitude"`
}

// unified maps the Location.
func (l *fhirLocation) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Location {
	return unified.Location{
		ID:                   l.ID,
		Identifiers:          m.identifierList(l.Identifier),
		Status:               l.Status,
		Name:                 l.Name,
		Mode:                 l.Mode,
		Types:                m.conceptList(l.Type),
		Telecom:              m.contactPointList(l.Telecom),
		Address:              m.address(&l.Address),
		Position:             locationPosition(&l.Position),
		ManagingOrganization: m.referenceTo(&l.ManagingOrganization, unified.Organizations),
		PartOf:               m.referenceTo(&l.PartOf, unified.Locations),
		UpdatedAt:            l.updated(),
		Source:               src,
		Raw:                  raw,
	}
}

// locationPosition maps a position only when it has both coordinates, as
// FHIR requires: a lone latitude is no place, and writing 0 for the missing
// one would invent a point off the coast of Africa. The values are kept as
// the source wrote them, even when they look swapped.
func locationPosition(p *fhirPosition) *unified.Position {
	if p.Latitude == nil || p.Longitude == nil {
		return nil
	}
	return &unified.Position{Latitude: *p.Latitude, Longitude: *p.Longitude, Altitude: p.Altitude}
}
