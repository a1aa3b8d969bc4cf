package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirObservation, unified.Observation]("Observation")
	register(&resourceMap{
		resource: unified.Observations,
		fhirType: "Observation",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "status", date: "date"}.params(),
		record:   c.record,
		page:     c.page,
	})
}

// fhirObservation holds only the fields of an R4 Observation that the
// mapping uses. value[x] is decoded through the embedded fhirValue, which
// its components share.
type fhirObservation struct {
	resourceHead
	Identifier        []fhirIdentifier                `json:"identifier"`
	Status            string                          `json:"status"`
	Category          []fhirCodeableConcept           `json:"category"`
	Code              fhirCodeableConcept             `json:"code"`
	Subject           fhirReference                   `json:"subject"`
	Encounter         fhirReference                   `json:"encounter"`
	EffectiveDateTime string                          `json:"effectiveDateTime"`
	EffectiveInstant  string                          `json:"effectiveInstant"`
	EffectivePeriod   fhirPeriod                      `json:"effectivePeriod"`
	Issued            string                          `json:"issued"`
	Performer         []fhirReference                 `json:"performer"`
	DataAbsentReason  fhirCodeableConcept             `json:"dataAbsentReason"`
	Interpretation    []fhirCodeableConcept           `json:"interpretation"`
	BodySite          fhirCodeableConcept             `json:"bodySite"`
	Method            fhirCodeableConcept             `json:"method"`
	ReferenceRange    []fhirObservationReferenceRange `json:"referenceRange"`
	HasMember         []fhirReference                 `json:"hasMember"`
	DerivedFrom       []fhirReference                 `json:"derivedFrom"`
	Component         []fhirObservationComponent      `json:"component"`
	fhirValue
}

func (o *fhirObservation) reset() {
	*o = fhirObservation{
		Identifier:       reuse(o.Identifier),
		Category:         reuse(o.Category),
		Code:             emptied(&o.Code),
		Performer:        clearList(o.Performer),
		DataAbsentReason: emptied(&o.DataAbsentReason),
		Interpretation:   reuse(o.Interpretation),
		BodySite:         emptied(&o.BodySite),
		Method:           emptied(&o.Method),
		ReferenceRange:   reuse(o.ReferenceRange),
		HasMember:        clearList(o.HasMember),
		DerivedFrom:      clearList(o.DerivedFrom),
		Component:        reuse(o.Component),
	}
}

type fhirObservationComponent struct {
	Code             fhirCodeableConcept             `json:"code"`
	DataAbsentReason fhirCodeableConcept             `json:"dataAbsentReason"`
	Interpretation   []fhirCodeableConcept           `json:"interpretation"`
	ReferenceRange   []fhirObservationReferenceRange `json:"referenceRange"`
	fhirValue
}

func (c *fhirObservationComponent) reset() {
	*c = fhirObservationComponent{
		Code:             emptied(&c.Code),
		DataAbsentReason: emptied(&c.DataAbsentReason),
		Interpretation:   reuse(c.Interpretation),
		ReferenceRange:   reuse(c.ReferenceRange),
	}
}

type fhirObservationReferenceRange struct {
	Low       fhirQuantity          `json:"low"`
	High      fhirQuantity          `json:"high"`
	Type      fhirCodeableConcept   `json:"type"`
	AppliesTo []fhirCodeableConcept `json:"appliesTo"`
	Age       fhirRange             `json:"age"`
	Text      string                `json:"text"`
}

func (r *fhirObservationReferenceRange) reset() {
	*r = fhirObservationReferenceRange{
		Low:       emptied(&r.Low),
		High:      emptied(&r.High),
		Type:      emptied(&r.Type),
		AppliesTo: reuse(r.AppliesTo),
		Age:       emptied(&r.Age),
	}
}

// unified maps the Observation. The subject is the patient only when it is
// one: an observation about a Group, a Device or a Location has none.
// effectiveTiming and valueSampledData have no unified counterpart and are
// left out; the record is still complete with raw=true.
func (o *fhirObservation) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Observation {
	u := unified.Observation{
		ID:               o.ID,
		Identifiers:      m.identifierList(o.Identifier),
		Status:           o.Status,
		Categories:       m.conceptList(o.Category),
		Code:             m.conceptValue(&o.Code),
		Patient:          m.subjectPatient(&o.Subject),
		Encounter:        m.referenceTo(&o.Encounter, unified.Encounters),
		IssuedAt:         o.Issued,
		Performers:       m.referenceList(o.Performer),
		Value:            m.value(&o.fhirValue),
		DataAbsentReason: m.concept(&o.DataAbsentReason),
		Interpretations:  m.conceptList(o.Interpretation),
		BodySite:         m.concept(&o.BodySite),
		Method:           m.concept(&o.Method),
		ReferenceRanges:  m.observationReferenceRanges(o.ReferenceRange),
		Components:       m.observationComponents(o.Component),
		HasMembers:       m.referenceList(o.HasMember),
		DerivedFrom:      m.referenceList(o.DerivedFrom),
		UpdatedAt:        o.updated(),
		Source:           src,
		Raw:              raw,
	}
	// effective[x] is a choice; a source that sends more than one variant
	// (invalid FHIR) is read by the first of dateTime, instant, period.
	switch {
	case o.EffectiveDateTime != "":
		u.EffectiveAt = o.EffectiveDateTime
	case o.EffectiveInstant != "":
		u.EffectiveAt = o.EffectiveInstant
	default:
		u.EffectivePeriod = m.period(&o.EffectivePeriod)
	}
	return u
}

// subjectPatient maps a subject that may be a Patient, a Group, a
// Device or a Location (an Observation's or a Condition's) to the patient
// it names. referenceTo keeps a reference to a type Ferry does not serve as
// its display only, which for a subject would present a Group's display
// ("Ward 3") as the patient's; a relative reference to another type is
// therefore no patient at all.
func (m *mapper) subjectPatient(r *fhirReference) *unified.Reference {
	u, typ := referenceOf(r)
	if typ != "" && typ != "Patient" {
		return nil
	}
	return m.target(u, typ, unified.Patients)
}

// observationComponents maps components, dropping those that hold nothing
// the unified model can express.
func (m *mapper) observationComponents(cs []fhirObservationComponent) []unified.ObservationComponent {
	var out []unified.ObservationComponent
	for i := range cs {
		c := &cs[i]
		u := unified.ObservationComponent{
			Code:             m.conceptValue(&c.Code),
			Value:            m.value(&c.fhirValue),
			DataAbsentReason: m.concept(&c.DataAbsentReason),
			Interpretations:  m.conceptList(c.Interpretation),
			ReferenceRanges:  m.observationReferenceRanges(c.ReferenceRange),
		}
		if len(u.Code.Codings) == 0 && u.Code.Text == "" && u.Value == nil && u.DataAbsentReason == nil &&
			u.Interpretations == nil && u.ReferenceRanges == nil {
			continue
		}
		if out == nil {
			out = m.components.list(len(cs))
		}
		out = append(out, u)
	}
	return out
}

// observationReferenceRanges maps reference ranges, dropping empty ones.
func (m *mapper) observationReferenceRanges(rs []fhirObservationReferenceRange) []unified.ReferenceRange {
	var out []unified.ReferenceRange
	for i := range rs {
		r := &rs[i]
		u := unified.ReferenceRange{
			Low:       m.quantity(&r.Low),
			High:      m.quantity(&r.High),
			Type:      m.concept(&r.Type),
			AppliesTo: m.conceptList(r.AppliesTo),
			Age:       m.rangeOf(&r.Age),
			Text:      r.Text,
		}
		if u.Low == nil && u.High == nil && u.Type == nil && u.AppliesTo == nil && u.Age == nil && u.Text == "" {
			continue
		}
		if out == nil {
			out = m.referenceRanges.list(len(rs))
		}
		out = append(out, u)
	}
	return out
}
