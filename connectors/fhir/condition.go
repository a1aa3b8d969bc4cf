package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	register(&resourceMap{
		resource: unified.Conditions,
		fhirType: "Condition",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "clinical-status", date: "onset-date"}.params(),
		record:   mapRecord[fhirCondition, unified.Condition]("Condition"),
		page:     mapPage[fhirCondition, unified.Condition]("Condition"),
	})
}

// fhirCondition holds only the fields of an R4 Condition that the mapping
// uses. Of onset[x] and abatement[x], only the variants that name a point in
// time are decoded: an age, a range of ages or free text cannot become a
// date without inventing one.
type fhirCondition struct {
	resourceHead
	Identifier         []fhirIdentifier      `json:"identifier"`
	ClinicalStatus     *fhirCodeableConcept  `json:"clinicalStatus"`
	VerificationStatus *fhirCodeableConcept  `json:"verificationStatus"`
	Category           []fhirCodeableConcept `json:"category"`
	Severity           *fhirCodeableConcept  `json:"severity"`
	Code               *fhirCodeableConcept  `json:"code"`
	BodySite           []fhirCodeableConcept `json:"bodySite"`
	Subject            *fhirReference        `json:"subject"`
	Encounter          *fhirReference        `json:"encounter"`
	OnsetDateTime      string                `json:"onsetDateTime"`
	OnsetPeriod        *fhirPeriod           `json:"onsetPeriod"`
	AbatementDateTime  string                `json:"abatementDateTime"`
	AbatementPeriod    *fhirPeriod           `json:"abatementPeriod"`
	RecordedDate       string                `json:"recordedDate"`
	Recorder           *fhirReference        `json:"recorder"`
}

// unified maps the Condition. Its subject is the patient only when it is
// one: a condition of a Group has none.
func (c *fhirCondition) unified(src unified.Source, raw json.RawMessage) unified.Condition {
	return unified.Condition{
		ID:                 c.ID,
		Identifiers:        identifiers(c.Identifier),
		ClinicalStatus:     firstCode(c.ClinicalStatus),
		VerificationStatus: firstCode(c.VerificationStatus),
		Categories:         concepts(c.Category),
		Severity:           concept(c.Severity),
		Code:               conceptValue(c.Code),
		BodySites:          concepts(c.BodySite),
		Patient:            observationSubjectPatient(c.Subject),
		Encounter:          referenceTo(c.Encounter, unified.Encounters),
		OnsetAt:            conditionPointInTime(c.OnsetDateTime, c.OnsetPeriod),
		AbatementAt:        conditionPointInTime(c.AbatementDateTime, c.AbatementPeriod),
		RecordedAt:         c.RecordedDate,
		Recorder:           reference(c.Recorder),
		UpdatedAt:          c.updated(),
		Source:             src,
		Raw:                raw,
	}
}

// conditionPointInTime flattens a dateTime-or-Period choice (a condition's
// or an allergy's onset) to one date: the dateTime, else the period's start.
// A source that sends both (invalid FHIR) is read by the dateTime.
func conditionPointInTime(dateTime string, p *fhirPeriod) string {
	if dateTime != "" || p == nil {
		return dateTime
	}
	return p.Start
}
