package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirCondition, unified.Condition]("Condition")
	register(&resourceMap{
		resource: unified.Conditions,
		fhirType: "Condition",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "clinical-status", date: "onset-date"}.params(),
		record:   c.record,
		page:     c.page,
	})
}

// fhirCondition holds only the fields of an R4 Condition that the mapping
// uses. Of onset[x] and abatement[x], only the variants that name a point in
// time are decoded: an age, a range of ages or free text cannot become a
// date without inventing one.
type fhirCondition struct {
	resourceHead
	Identifier         []fhirIdentifier      `json:"identifier"`
	ClinicalStatus     fhirCodeableConcept   `json:"clinicalStatus"`
	VerificationStatus fhirCodeableConcept   `json:"verificationStatus"`
	Category           []fhirCodeableConcept `json:"category"`
	Severity           fhirCodeableConcept   `json:"severity"`
	Code               fhirCodeableConcept   `json:"code"`
	BodySite           []fhirCodeableConcept `json:"bodySite"`
	Subject            fhirReference         `json:"subject"`
	Encounter          fhirReference         `json:"encounter"`
	OnsetDateTime      string                `json:"onsetDateTime"`
	OnsetPeriod        fhirPeriod            `json:"onsetPeriod"`
	AbatementDateTime  string                `json:"abatementDateTime"`
	AbatementPeriod    fhirPeriod            `json:"abatementPeriod"`
	RecordedDate       string                `json:"recordedDate"`
	Recorder           fhirReference         `json:"recorder"`
}

func (c *fhirCondition) reset() {
	*c = fhirCondition{
		Identifier:         reuse(c.Identifier),
		ClinicalStatus:     emptied(&c.ClinicalStatus),
		VerificationStatus: emptied(&c.VerificationStatus),
		Category:           reuse(c.Category),
		Severity:           emptied(&c.Severity),
		Code:               emptied(&c.Code),
		BodySite:           reuse(c.BodySite),
	}
}

// unified maps the Condition. Its subject is the patient only when it is
// one: a condition of a Group has none.
func (c *fhirCondition) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Condition {
	return unified.Condition{
		ID:                 c.ID,
		Identifiers:        m.identifierList(c.Identifier),
		ClinicalStatus:     firstCode(&c.ClinicalStatus),
		VerificationStatus: firstCode(&c.VerificationStatus),
		Categories:         m.conceptList(c.Category),
		Severity:           m.concept(&c.Severity),
		Code:               m.conceptValue(&c.Code),
		BodySites:          m.conceptList(c.BodySite),
		Patient:            m.subjectPatient(&c.Subject),
		Encounter:          m.referenceTo(&c.Encounter, unified.Encounters),
		OnsetAt:            pointInTime(c.OnsetDateTime, &c.OnsetPeriod),
		AbatementAt:        pointInTime(c.AbatementDateTime, &c.AbatementPeriod),
		RecordedAt:         c.RecordedDate,
		Recorder:           m.reference(&c.Recorder),
		UpdatedAt:          c.updated(),
		Source:             src,
		Raw:                raw,
	}
}

// pointInTime flattens a dateTime-or-Period choice (a condition's or an
// allergy's onset) to one date: the dateTime, else the period's start. A
// source that sends both (invalid FHIR) is read by the dateTime.
func pointInTime(dateTime string, p *fhirPeriod) string {
	if dateTime != "" {
		return dateTime
	}
	return p.Start
}
