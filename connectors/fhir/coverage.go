package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirCoverage, unified.Coverage]("Coverage")
	register(&resourceMap{
		resource: unified.Coverages,
		fhirType: "Coverage",
		params: []searchParam{
			// FHIR's patient parameter searches the beneficiary, which is
			// the unified Patient.
			patientParam("patient", true),
			tokenParam(unified.FilterStatus, "status"),
			tokenParam(unified.FilterCode, "type"),
			updatedParam(),
		},
		record: c.record,
		page:   c.page,
	})
}

// fhirCoverage holds only the fields of an R4 Coverage that the mapping
// uses.
type fhirCoverage struct {
	resourceHead
	Identifier   []fhirIdentifier    `json:"identifier"`
	Status       string              `json:"status"`
	Type         fhirCodeableConcept `json:"type"`
	Subscriber   fhirReference       `json:"subscriber"`
	SubscriberID string              `json:"subscriberId"`
	Beneficiary  fhirReference       `json:"beneficiary"`
	Dependent    string              `json:"dependent"`
	Relationship fhirCodeableConcept `json:"relationship"`
	Period       fhirPeriod          `json:"period"`
	Payor        []fhirReference     `json:"payor"`
	Class        []struct {
		Type  fhirCodeableConcept `json:"type"`
		Value string              `json:"value"`
		Name  string              `json:"name"`
	} `json:"class"`
	Order   *int   `json:"order"`
	Network string `json:"network"`
}

func (c *fhirCoverage) reset() {
	*c = fhirCoverage{
		Identifier:   reuse(c.Identifier),
		Type:         emptied(&c.Type),
		Relationship: emptied(&c.Relationship),
		Payor:        clearList(c.Payor),
		Class:        clearList(c.Class),
	}
}

// unified maps the Coverage. A payor given only by identifier (an insurer
// the source holds no record of) has nothing a client can follow or show,
// and is dropped like any reference without a relative target or display.
func (c *fhirCoverage) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Coverage {
	u := unified.Coverage{
		ID:           c.ID,
		Identifiers:  m.identifierList(c.Identifier),
		Status:       c.Status,
		Type:         m.concept(&c.Type),
		Patient:      m.referenceTo(&c.Beneficiary, unified.Patients),
		Subscriber:   m.reference(&c.Subscriber),
		SubscriberID: c.SubscriberID,
		Dependent:    c.Dependent,
		Relationship: m.concept(&c.Relationship),
		Period:       m.period(&c.Period),
		Payors:       m.referenceList(c.Payor),
		Order:        c.Order,
		Network:      c.Network,
		UpdatedAt:    c.updated(),
		Source:       src,
		Raw:          raw,
	}
	for i := range c.Class {
		cl := &c.Class[i]
		uc := unified.CoverageClass{Type: m.concept(&cl.Type), Value: cl.Value, Name: cl.Name}
		if uc.Type == nil && uc.Value == "" && uc.Name == "" {
			continue
		}
		u.Classes = append(u.Classes, uc)
	}
	return u
}
