package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	register(&resourceMap{
		resource: unified.Observations,
		fhirType: "Observation",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "status", date: "date"}.params(),
		record:   mapRecord[fhirObservation, unified.Observation]("Observation"),
		page:     mapPage[fhirObservation, unified.Observation]("Observation"),
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
	Code              *fhirCodeableConcept            `json:"code"`
	Subject           *fhirReference                  `json:"subject"`
	Encounter         *fhirReference                  `json:"encounter"`
	EffectiveDateTime string                          `json:"effectiveDateTime"`
	EffectiveInstant  string                          `json:"effectiveInstant"`
	EffectivePeriod   *fhirPeriod                     `json:"effectivePeriod"`
	Issued            string                          `json:"issued"`
	Performer         []fhirReference                 `json:"performer"`
	DataAbsentReason  *fhirCodeableConcept            `json:"dataAbsentReason"`
	Interpretation    []fhirCodeableConcept           `json:"interpretation"`
	BodySite          *fhirCodeableConcept            `json:"bodySite"`
	Method            *fhirCodeableConcept            `json:"method"`
	ReferenceRange    []fhirObservationReferenceRange `json:"referenceRange"`
	HasMember         []fhirReference                 `json:"hasMember"`
	DerivedFrom       []fhirReference                 `json:"derivedFrom"`
	Component         []fhirObservationComponent      `json:"component"`
	fhirValue
}

type fhirObservationComponent struct {
	Code             *fhirCodeableConcept            `json:"code"`
	DataAbsentReason *fhirCodeableConcept            `json:"dataAbsentReason"`
	Interpretation   []fhirCodeableConcept           `json:"interpretation"`
	ReferenceRange   []fhirObservationReferenceRange `json:"referenceRange"`
	fhirValue
}

type fhirObservationReferenceRange struct {
	Low       *fhirQuantity         `json:"low"`
	High      *fhirQuantity         `json:"high"`
	Type      *fhirCodeableConcept  `json:"type"`
	AppliesTo []fhirCodeableConcept `json:"appliesTo"`
	Age       *fhirRange            `json:"age"`
	Text      string                `json:"text"`
}

// unified maps the Observation. The subject is the patient only when it is
// one: an observation about a Group, a Device or a Location has none.
// effectiveTiming and valueSampledData have no unified counterpart and are
// left out; the record is still complete with raw=true.
func (o *fhirObservation) unified(src unified.Source, raw json.RawMessage) unified.Observation {
	u := unified.Observation{
		ID:               o.ID,
		Identifiers:      identifiers(o.Identifier),
		Status:           o.Status,
		Categories:       concepts(o.Category),
		Code:             conceptValue(o.Code),
		Patient:          observationSubjectPatient(o.Subject),
		Encounter:        referenceTo(o.Encounter, unified.Encounters),
		IssuedAt:         o.Issued,
		Performers:       references(o.Performer),
		Value:            o.value(),
		DataAbsentReason: concept(o.DataAbsentReason),
		Interpretations:  concepts(o.Interpretation),
		BodySite:         concept(o.BodySite),
		Method:           concept(o.Method),
		ReferenceRanges:  observationReferenceRanges(o.ReferenceRange),
		Components:       observationComponents(o.Component),
		HasMembers:       references(o.HasMember),
		DerivedFrom:      references(o.DerivedFrom),
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
		u.EffectivePeriod = period(o.EffectivePeriod)
	}
	return u
}

// observationSubjectPatient maps a subject that may be a Patient, a Group, a
// Device or a Location (an Observation's or a Condition's) to the patient
// it names. referenceTo keeps a reference to a type Ferry does not serve as
// its display only, which for a subject would present a Group's display
// ("Ward 3") as the patient's; a relative reference to another type is
// therefore no patient at all.
func observationSubjectPatient(r *fhirReference) *unified.Reference {
	if r == nil {
		return nil
	}
	if typ, _, ok := relativeReference(r.Reference); ok && typ != "Patient" {
		return nil
	}
	return referenceTo(r, unified.Patients)
}

// observationComponents maps components, dropping those that hold nothing
// the unified model can express.
func observationComponents(cs []fhirObservationComponent) []unified.ObservationComponent {
	var out []unified.ObservationComponent
	for i := range cs {
		c := &cs[i]
		u := unified.ObservationComponent{
			Code:             conceptValue(c.Code),
			Value:            c.value(),
			DataAbsentReason: concept(c.DataAbsentReason),
			Interpretations:  concepts(c.Interpretation),
			ReferenceRanges:  observationReferenceRanges(c.ReferenceRange),
		}
		if len(u.Code.Codings) == 0 && u.Code.Text == "" && u.Value == nil && u.DataAbsentReason == nil &&
			u.Interpretations == nil && u.ReferenceRanges == nil {
			continue
		}
		if out == nil {
			out = make([]unified.ObservationComponent, 0, len(cs))
		}
		out = append(out, u)
	}
	return out
}

// observationReferenceRanges maps reference ranges, dropping empty ones.
func observationReferenceRanges(rs []fhirObservationReferenceRange) []unified.ReferenceRange {
	var out []unified.ReferenceRange
	for i := range rs {
		r := &rs[i]
		u := unified.ReferenceRange{
			Low:       quantity(r.Low),
			High:      quantity(r.High),
			Type:      concept(r.Type),
			AppliesTo: concepts(r.AppliesTo),
			Age:       rangeOf(r.Age),
			Text:      r.Text,
		}
		if u.Low == nil && u.High == nil && u.Type == nil && u.AppliesTo == nil && u.Age == nil && u.Text == "" {
			continue
		}
		if out == nil {
			out = make([]unified.ReferenceRange, 0, len(rs))
		}
		out = append(out, u)
	}
	return out
}
