package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirProcedure, unified.Procedure]("Procedure")
	register(&resourceMap{
		resource: unified.Procedures,
		fhirType: "Procedure",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "status", date: "date"}.params(),
		record:   c.record,
		page:     c.page,
	})
}

// fhirProcedure holds only the fields of an R4 Procedure that the mapping
// uses.
type fhirProcedure struct {
	resourceHead
	Identifier        []fhirIdentifier      `json:"identifier"`
	Status            string                `json:"status"`
	Category          fhirCodeableConcept   `json:"category"`
	Code              fhirCodeableConcept   `json:"code"`
	Subject           fhirReference         `json:"subject"`
	Encounter         fhirReference         `json:"encounter"`
	PerformedDateTime string                `json:"performedDateTime"`
	PerformedPeriod   fhirPeriod            `json:"performedPeriod"`
	Performer         []fhirProcedureActor  `json:"performer"`
	Location          fhirReference         `json:"location"`
	ReasonCode        []fhirCodeableConcept `json:"reasonCode"`
	BodySite          []fhirCodeableConcept `json:"bodySite"`
	Outcome           fhirCodeableConcept   `json:"outcome"`
}

type fhirProcedureActor struct {
	Actor fhirReference `json:"actor"`
}

func (p *fhirProcedure) reset() {
	*p = fhirProcedure{
		Identifier: reuse(p.Identifier),
		Category:   emptied(&p.Category),
		Code:       emptied(&p.Code),
		Performer:  clearList(p.Performer),
		ReasonCode: reuse(p.ReasonCode),
		BodySite:   reuse(p.BodySite),
		Outcome:    emptied(&p.Outcome),
	}
}

// unified maps the Procedure. performed[x] is a choice: a date-time is
// performed_at and a period performed_period; a string ("about 3 years
// ago"), an age or a range has no place in the unified model and is left
// out. The performers are the actors of performer[]; their functions are
// not mapped.
func (p *fhirProcedure) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Procedure {
	u := unified.Procedure{
		ID:              p.ID,
		Identifiers:     m.identifierList(p.Identifier),
		Status:          p.Status,
		Category:        m.concept(&p.Category),
		Code:            m.conceptValue(&p.Code),
		Patient:         m.referenceTo(&p.Subject, unified.Patients),
		Encounter:       m.referenceTo(&p.Encounter, unified.Encounters),
		PerformedAt:     p.PerformedDateTime,
		PerformedPeriod: m.period(&p.PerformedPeriod),
		Location:        m.referenceTo(&p.Location, unified.Locations),
		ReasonCodes:     m.conceptList(p.ReasonCode),
		BodySites:       m.conceptList(p.BodySite),
		Outcome:         m.concept(&p.Outcome),
		UpdatedAt:       p.updated(),
		Source:          src,
		Raw:             raw,
	}
	for i := range p.Performer {
		if r := m.reference(&p.Performer[i].Actor); r != nil {
			u.Performers = append(u.Performers, *r)
		}
	}
	return u
}
