package fhir

import (
	"encoding/json"
	"slices"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirImmunization, unified.Immunization]("Immunization")
	register(&resourceMap{
		resource: unified.Immunizations,
		fhirType: "Immunization",
		params:   clinical{patient: "patient", code: "vaccine-code", status: "status", date: "date"}.params(),
		record:   c.record,
		page:     c.page,
	})
}

// fhirImmunization holds only the fields of an R4 Immunization that the
// mapping uses. occurrenceString ("at age 5") is not decoded: it names no
// date the unified occurrence_at could hold.
type fhirImmunization struct {
	resourceHead
	Identifier         []fhirIdentifier            `json:"identifier"`
	Status             string                      `json:"status"`
	StatusReason       fhirCodeableConcept         `json:"statusReason"`
	VaccineCode        fhirCodeableConcept         `json:"vaccineCode"`
	Patient            fhirReference               `json:"patient"`
	Encounter          fhirReference               `json:"encounter"`
	OccurrenceDateTime string                      `json:"occurrenceDateTime"`
	Recorded           string                      `json:"recorded"`
	PrimarySource      *bool                       `json:"primarySource"`
	Location           fhirReference               `json:"location"`
	LotNumber          string                      `json:"lotNumber"`
	ExpirationDate     string                      `json:"expirationDate"`
	Site               fhirCodeableConcept         `json:"site"`
	Route              fhirCodeableConcept         `json:"route"`
	DoseQuantity       fhirQuantity                `json:"doseQuantity"`
	Performer          []fhirImmunizationPerformer `json:"performer"`
}

func (m *fhirImmunization) reset() {
	*m = fhirImmunization{
		Identifier:   reuse(m.Identifier),
		StatusReason: emptied(&m.StatusReason),
		VaccineCode:  emptied(&m.VaccineCode),
		Site:         emptied(&m.Site),
		Route:        emptied(&m.Route),
		DoseQuantity: emptied(&m.DoseQuantity),
		Performer:    clearList(m.Performer),
	}
}

type fhirImmunizationPerformer struct {
	Actor fhirReference `json:"actor"`
}

// unified maps the Immunization.
func (m *fhirImmunization) unified(mp *mapper, src unified.Source, raw json.RawMessage) unified.Immunization {
	return unified.Immunization{
		ID:             m.ID,
		Identifiers:    mp.identifierList(m.Identifier),
		Status:         m.Status,
		StatusReason:   mp.concept(&m.StatusReason),
		VaccineCode:    mp.conceptValue(&m.VaccineCode),
		Patient:        mp.referenceTo(&m.Patient, unified.Patients),
		Encounter:      mp.referenceTo(&m.Encounter, unified.Encounters),
		OccurrenceAt:   m.OccurrenceDateTime,
		RecordedAt:     m.Recorded,
		PrimarySource:  m.PrimarySource,
		Location:       mp.referenceTo(&m.Location, unified.Locations),
		LotNumber:      m.LotNumber,
		ExpirationDate: m.ExpirationDate,
		Site:           mp.concept(&m.Site),
		Route:          mp.concept(&m.Route),
		DoseQuantity:   mp.quantity(&m.DoseQuantity),
		Performers:     mp.immunizationPerformers(m.Performer),
		UpdatedAt:      m.updated(),
		Source:         src,
		Raw:            raw,
	}
}

// immunizationPerformers lists the performers' actors. The unified record
// has no performer function (ordering, administering), so one actor named
// under several functions is listed once.
func (m *mapper) immunizationPerformers(ps []fhirImmunizationPerformer) []unified.Reference {
	var out []unified.Reference
	for i := range ps {
		r := m.reference(&ps[i].Actor)
		if r == nil || slices.Contains(out, *r) {
			continue
		}
		out = append(out, *r)
	}
	return out
}
