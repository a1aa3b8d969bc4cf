package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	register(&resourceMap{
		resource: unified.DiagnosticReports,
		fhirType: "DiagnosticReport",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "status", date: "date"}.params(),
		record:   mapRecord[fhirDiagnosticReport, unified.DiagnosticReport]("DiagnosticReport"),
		page:     mapPage[fhirDiagnosticReport, unified.DiagnosticReport]("DiagnosticReport"),
	})
}

// fhirDiagnosticReport holds only the fields of an R4 DiagnosticReport that
// the mapping uses. A presented form's data is decoded only to learn that it
// is inline (see fhirAttachment); a pathology report can carry megabytes of
// it, which never reach the unified record.
type fhirDiagnosticReport struct {
	resourceHead
	Identifier        []fhirIdentifier      `json:"identifier"`
	Status            string                `json:"status"`
	Category          []fhirCodeableConcept `json:"category"`
	Code              *fhirCodeableConcept  `json:"code"`
	Subject           *fhirReference        `json:"subject"`
	Encounter         *fhirReference        `json:"encounter"`
	EffectiveDateTime string                `json:"effectiveDateTime"`
	EffectivePeriod   *fhirPeriod           `json:"effectivePeriod"`
	Issued            string                `json:"issued"`
	Performer         []fhirReference       `json:"performer"`
	Result            []fhirReference       `json:"result"`
	Conclusion        string                `json:"conclusion"`
	ConclusionCode    []fhirCodeableConcept `json:"conclusionCode"`
	PresentedForm     []fhirAttachment      `json:"presentedForm"`
}

// unified maps the DiagnosticReport. effective[x] is a choice: a date-time
// is effective_at, a period effective_period. The results are references
// to the report's Observations, which the client reads as observations.
func (d *fhirDiagnosticReport) unified(src unified.Source, raw json.RawMessage) unified.DiagnosticReport {
	return unified.DiagnosticReport{
		ID:              d.ID,
		Identifiers:     identifiers(d.Identifier),
		Status:          d.Status,
		Categories:      concepts(d.Category),
		Code:            conceptValue(d.Code),
		Patient:         referenceTo(d.Subject, unified.Patients),
		Encounter:       referenceTo(d.Encounter, unified.Encounters),
		EffectiveAt:     d.EffectiveDateTime,
		EffectivePeriod: period(d.EffectivePeriod),
		IssuedAt:        d.Issued,
		Performers:      references(d.Performer),
		Results:         references(d.Result),
		Conclusion:      d.Conclusion,
		ConclusionCodes: concepts(d.ConclusionCode),
		PresentedForms:  presentedForms(d.PresentedForm),
		UpdatedAt:       d.updated(),
		Source:          src,
		Raw:             raw,
	}
}

// presentedForms maps attachments' metadata, dropping those with nothing the
// unified model can express (an attachment of extensions only).
func presentedForms(as []fhirAttachment) []unified.Attachment {
	var out []unified.Attachment
	for i := range as {
		if a := attachment(&as[i]); a != (unified.Attachment{}) {
			out = append(out, a)
		}
	}
	return out
}
