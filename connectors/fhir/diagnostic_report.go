package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirDiagnosticReport, unified.DiagnosticReport]("DiagnosticReport")
	register(&resourceMap{
		resource: unified.DiagnosticReports,
		fhirType: "DiagnosticReport",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "status", date: "date"}.params(),
		record:   c.record,
		page:     c.page,
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
	Code              fhirCodeableConcept   `json:"code"`
	Subject           fhirReference         `json:"subject"`
	Encounter         fhirReference         `json:"encounter"`
	EffectiveDateTime string                `json:"effectiveDateTime"`
	EffectivePeriod   fhirPeriod            `json:"effectivePeriod"`
	Issued            string                `json:"issued"`
	Performer         []fhirReference       `json:"performer"`
	Result            []fhirReference       `json:"result"`
	Conclusion        string                `json:"conclusion"`
	ConclusionCode    []fhirCodeableConcept `json:"conclusionCode"`
	PresentedForm     []fhirAttachment      `json:"presentedForm"`
}

func (d *fhirDiagnosticReport) reset() {
	*d = fhirDiagnosticReport{
		Identifier:     reuse(d.Identifier),
		Category:       reuse(d.Category),
		Code:           emptied(&d.Code),
		Performer:      clearList(d.Performer),
		Result:         clearList(d.Result),
		ConclusionCode: reuse(d.ConclusionCode),
		PresentedForm:  clearList(d.PresentedForm),
	}
}

// unified maps the DiagnosticReport. effective[x] is a choice: a date-time
// is effective_at, a period effective_period. The results are references
// to the report's Observations, which the client reads as observations.
func (d *fhirDiagnosticReport) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.DiagnosticReport {
	return unified.DiagnosticReport{
		ID:              d.ID,
		Identifiers:     m.identifierList(d.Identifier),
		Status:          d.Status,
		Categories:      m.conceptList(d.Category),
		Code:            m.conceptValue(&d.Code),
		Patient:         m.referenceTo(&d.Subject, unified.Patients),
		Encounter:       m.referenceTo(&d.Encounter, unified.Encounters),
		EffectiveAt:     d.EffectiveDateTime,
		EffectivePeriod: m.period(&d.EffectivePeriod),
		IssuedAt:        d.Issued,
		Performers:      m.referenceList(d.Performer),
		Results:         m.referenceList(d.Result),
		Conclusion:      d.Conclusion,
		ConclusionCodes: m.conceptList(d.ConclusionCode),
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
