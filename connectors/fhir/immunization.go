package fhir

import (
	"encoding/json"
	"slices"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	register(&resourceMap{
		resource: unified.Immunizations,
		fhirType: "Immunization",
		params:   clinical{patient: "patient", code: "vaccine-code", status: "status", date: "date"}.params(),
		record:   mapRecord[fhirImmunization, unified.Immunization]("Immunization"),
		page:     mapPage[fhirImmunization, unified.Immunization]("Immunization"),
	})
}

// fhirImmunization holds only the fields of an R4 Immunization that the
// mapping uses. occurrenceString ("at age 5") is not decoded: it names no
// date the unified occurrence_at could hold.
type fhirImmunization struct {
	resourceHead
	Identifier         []fhirIdentifier            `json:"identifier"`
	Status             string                      `json:"status"`
	StatusReason       *fhirCodeableConcept        `json:"statusReason"`
	VaccineCode        *fhirCodeableConcept        `json:"vaccineCode"`
	Patient            *fhirReference              `json:"patient"`
	Encounter          *fhirReference              `json:"encounter"`
	OccurrenceDateTime string                      `json:"occurrenceDateTime"`
	Recorded           string                      `json:"recorded"`
	PrimarySource      *bool                       `json:"primarySource"`
	Location           *fhirReference              `json:"location"`
	LotNumber          string                      `json:"lotNumber"`
	ExpirationDate     string                      `json:"expirationDate"`
	Site               *fhirCodeableConcept        `json:"site"`
	Route              *fhirCodeableConcept        `json:"route"`
	DoseQuantity       *fhirQuantity               `json:"doseQuantity"`
	Performer          []fhirImmunizationPerformer `json:"performer"`
}

type fhirImmunizationPerformer struct {
	Actor *fhirReference `json:"actor"`
}

// unified maps the Immunization.
func (m *fhirImmunization) unified(src unified.Source, raw json.RawMessage) unified.Immunization {
	return unified.Immunization{
		ID:             m.ID,
		Identifiers:    identifiers(m.Identifier),
		Status:         m.Status,
		StatusReason:   concept(m.StatusReason),
		VaccineCode:    conceptValue(m.VaccineCode),
		Patient:        referenceTo(m.Patient, unified.Patients),
		Encounter:      referenceTo(m.Encounter, unified.Encounters),
		OccurrenceAt:   m.OccurrenceDateTime,
		RecordedAt:     m.Recorded,
		PrimarySource:  m.PrimarySource,
		Location:       referenceTo(m.Location, unified.Locations),
		LotNumber:      m.LotNumber,
		ExpirationDate: m.ExpirationDate,
		Site:           concept(m.Site),
		Route:          concept(m.Route),
		DoseQuantity:   quantity(m.DoseQuantity),
		Performers:     immunizationPerformers(m.Performer),
		UpdatedAt:      m.updated(),
		Source:         src,
		Raw:            raw,
	}
}

// immunizationPerformers lists the performers' actors. The unified record
// has no performer function (ordering, administering), so one actor named
// under several functions is listed once.
func immunizationPerformers(ps []fhirImmunizationPerformer) []unified.Reference {
	var out []unified.Reference
	for i := range ps {
		r := reference(ps[i].Actor)
		if r == nil || slices.Contains(out, *r) {
			continue
		}
		out = append(out, *r)
	}
	return out
}
