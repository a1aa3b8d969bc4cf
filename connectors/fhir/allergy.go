package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirAllergyIntolerance, unified.Allergy]("AllergyIntolerance")
	register(&resourceMap{
		resource: unified.Allergies,
		fhirType: "AllergyIntolerance",
		// AllergyIntolerance's date parameter searches recordedDate.
		params: clinical{patient: "patient", code: "code", category: "category", status: "clinical-status", date: "date"}.params(),
		record: c.record,
		page:   c.page,
	})
}

// fhirAllergyIntolerance holds only the fields of an R4 AllergyIntolerance
// that the mapping uses. Of onset[x], only onsetDateTime and onsetPeriod
// name a point in time; an age, a range or free text is left out.
type fhirAllergyIntolerance struct {
	resourceHead
	Identifier         []fhirIdentifier      `json:"identifier"`
	ClinicalStatus     fhirCodeableConcept   `json:"clinicalStatus"`
	VerificationStatus fhirCodeableConcept   `json:"verificationStatus"`
	Type               string                `json:"type"`
	Category           []string              `json:"category"`
	Criticality        string                `json:"criticality"`
	Code               fhirCodeableConcept   `json:"code"`
	Patient            fhirReference         `json:"patient"`
	Encounter          fhirReference         `json:"encounter"`
	OnsetDateTime      string                `json:"onsetDateTime"`
	OnsetPeriod        fhirPeriod            `json:"onsetPeriod"`
	RecordedDate       string                `json:"recordedDate"`
	LastOccurrence     string                `json:"lastOccurrence"`
	Reaction           []fhirAllergyReaction `json:"reaction"`
}

type fhirAllergyReaction struct {
	Substance     fhirCodeableConcept   `json:"substance"`
	Manifestation []fhirCodeableConcept `json:"manifestation"`
	Severity      string                `json:"severity"`
	Onset         string                `json:"onset"`
}

func (a *fhirAllergyIntolerance) reset() {
	*a = fhirAllergyIntolerance{
		Identifier:         reuse(a.Identifier),
		ClinicalStatus:     emptied(&a.ClinicalStatus),
		VerificationStatus: emptied(&a.VerificationStatus),
		Category:           clearList(a.Category),
		Code:               emptied(&a.Code),
		Reaction:           reuse(a.Reaction),
	}
}

func (r *fhirAllergyReaction) reset() {
	*r = fhirAllergyReaction{Substance: emptied(&r.Substance), Manifestation: reuse(r.Manifestation)}
}

// unified maps the AllergyIntolerance.
func (a *fhirAllergyIntolerance) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Allergy {
	return unified.Allergy{
		ID:                 a.ID,
		Identifiers:        m.identifierList(a.Identifier),
		ClinicalStatus:     firstCode(&a.ClinicalStatus),
		VerificationStatus: firstCode(&a.VerificationStatus),
		Type:               a.Type,
		Categories:         allergyCategories(a.Category),
		Criticality:        a.Criticality,
		Code:               m.conceptValue(&a.Code),
		Patient:            m.referenceTo(&a.Patient, unified.Patients),
		Encounter:          m.referenceTo(&a.Encounter, unified.Encounters),
		OnsetAt:            pointInTime(a.OnsetDateTime, &a.OnsetPeriod),
		RecordedAt:         a.RecordedDate,
		LastOccurrenceAt:   a.LastOccurrence,
		Reactions:          m.allergyReactions(a.Reaction),
		UpdatedAt:          a.updated(),
		Source:             src,
		Raw:                raw,
	}
}

// allergyCategories keeps the category codes, dropping empty ones (an
// element that carried only an extension).
func allergyCategories(cs []string) []string {
	var out []string
	for _, c := range cs {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// allergyReactions maps reactions, dropping those with nothing the unified
// model can express (only a description, a note or an exposure route).
func (m *mapper) allergyReactions(rs []fhirAllergyReaction) []unified.AllergyReaction {
	var out []unified.AllergyReaction
	for i := range rs {
		r := &rs[i]
		u := unified.AllergyReaction{
			Substance:      m.concept(&r.Substance),
			Manifestations: m.conceptList(r.Manifestation),
			Severity:       r.Severity,
			OnsetAt:        r.Onset,
		}
		if u.Substance == nil && u.Manifestations == nil && u.Severity == "" && u.OnsetAt == "" {
			continue
		}
		if out == nil {
			out = make([]unified.AllergyReaction, 0, len(rs))
		}
		out = append(out, u)
	}
	return out
}
