package fhir

import (
	"github.com/ferryhealth/ferry/unified"
)

// The unified → FHIR R4 direction, for writes. Each writable resource has a
// writeMap: how a unified record becomes a FHIR resource (toFHIR, whose
// output omits every element the record leaves empty), and which FHIR
// elements each updatable unified field is written to. An update maps the
// partial record the same way and copies only those elements onto the
// source's current resource, so every element Ferry does not map survives.

type writeMap struct {
	fhirType string
	// newRecord returns a new, empty unified record of the resource's type.
	newRecord func() any
	toFHIR    func(rec any) any
	// elements maps each updatable unified field to the FHIR elements it
	// is written to.
	elements map[string][]string
}

var writeMaps = map[unified.ResourceType]*writeMap{
	unified.Appointments: {
		fhirType:  "Appointment",
		newRecord: func() any { return &unified.Appointment{} },
		toFHIR:    func(rec any) any { return appointmentToFHIR(rec.(*unified.Appointment)) },
		elements: map[string][]string{
			"status": {"status"}, "start": {"start"}, "end": {"end"}, "minutes_duration": {"minutesDuration"},
			"cancelation_reason": {"cancelationReason"}, "description": {"description"}, "priority": {"priority"},
		},
	},
	unified.Documents: {
		fhirType:  "DocumentReference",
		newRecord: func() any { return &unified.Document{} },
		toFHIR:    func(rec any) any { return documentToFHIR(rec.(*unified.Document)) },
		elements:  map[string][]string{"status": {"status"}, "doc_status": {"docStatus"}, "description": {"description"}},
	},
	unified.Observations: {
		fhirType:  "Observation",
		newRecord: func() any { return &unified.Observation{} },
		toFHIR:    func(rec any) any { return observationToFHIR(rec.(*unified.Observation)) },
		elements: map[string][]string{
			"status": {"status"}, "value": valueElements, "components": {"component"},
			"interpretations": {"interpretation"}, "data_absent_reason": {"dataAbsentReason"},
		},
	},
}

// valueElements are the names value[x] takes in R4.
var valueElements = []string{
	"valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger",
	"valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod",
}

// The FHIR datatypes as written: every element omitted when empty.

type wCoding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type wConcept struct {
	Coding []wCoding `json:"coding,omitempty"`
	Text   string    `json:"text,omitempty"`
}

type wReference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type wPeriod struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type wQuantity struct {
	Value      *float64 `json:"value,omitempty"`
	Comparator string   `json:"comparator,omitempty"`
	Unit       string   `json:"unit,omitempty"`
	System     string   `json:"system,omitempty"`
	Code       string   `json:"code,omitempty"`
}

type wRange struct {
	Low  *wQuantity `json:"low,omitempty"`
	High *wQuantity `json:"high,omitempty"`
}

type wRatio struct {
	Numerator   *wQuantity `json:"numerator,omitempty"`
	Denominator *wQuantity `json:"denominator,omitempty"`
}

type wIdentifier struct {
	Use    string    `json:"use,omitempty"`
	Type   *wConcept `json:"type,omitempty"`
	System string    `json:"system,omitempty"`
	Value  string    `json:"value,omitempty"`
}

// wValue is value[x]: at most one element set.
type wValue struct {
	ValueQuantity        *wQuantity `json:"valueQuantity,omitempty"`
	ValueCodeableConcept *wConcept  `json:"valueCodeableConcept,omitempty"`
	ValueString          *string    `json:"valueString,omitempty"`
	ValueBoolean         *bool      `json:"valueBoolean,omitempty"`
	ValueInteger         *int64     `json:"valueInteger,omitempty"`
	ValueRange           *wRange    `json:"valueRange,omitempty"`
	ValueRatio           *wRatio    `json:"valueRatio,omitempty"`
	ValueTime            string     `json:"valueTime,omitempty"`
	ValueDateTime        string     `json:"valueDateTime,omitempty"`
	ValuePeriod          *wPeriod   `json:"valuePeriod,omitempty"`
}

func coding(c *unified.Coding) wCoding {
	return wCoding{System: c.System, Code: c.Code, Display: c.Display}
}

func concept(c *unified.CodeableConcept) *wConcept {
	if c == nil || (len(c.Codings) == 0 && c.Text == "") {
		return nil
	}
	w := &wConcept{Text: c.Text}
	for i := range c.Codings {
		w.Coding = append(w.Coding, coding(&c.Codings[i]))
	}
	return w
}

func concepts(cs []unified.CodeableConcept) []wConcept {
	var out []wConcept
	for i := range cs {
		if w := concept(&cs[i]); w != nil {
			out = append(out, *w)
		}
	}
	return out
}

// reference writes a unified reference as a relative FHIR one
// ("Patient/123"); a reference Ferry cannot follow keeps its display.
func reference(r *unified.Reference) *wReference {
	if r == nil {
		return nil
	}
	w := &wReference{Display: r.Display}
	if m, ok := resourceMaps[r.Resource]; ok && r.ID != "" {
		w.Reference = m.fhirType + "/" + r.ID
	}
	if w.Reference == "" && w.Display == "" {
		return nil
	}
	return w
}

func references(rs []unified.Reference) []wReference {
	var out []wReference
	for i := range rs {
		if w := reference(&rs[i]); w != nil {
			out = append(out, *w)
		}
	}
	return out
}

func period(p *unified.Period) *wPeriod {
	if p == nil || (p.Start == "" && p.End == "") {
		return nil
	}
	return &wPeriod{Start: p.Start, End: p.End}
}

func quantity(q *unified.Quantity) *wQuantity {
	if q == nil {
		return nil
	}
	return &wQuantity{Value: q.Value, Comparator: q.Comparator, Unit: q.Unit, System: q.System, Code: q.Code}
}

func rangeOf(r *unified.Range) *wRange {
	if r == nil {
		return nil
	}
	return &wRange{Low: quantity(r.Low), High: quantity(r.High)}
}

func identifiers(ids []unified.Identifier) []wIdentifier {
	var out []wIdentifier
	for _, id := range ids {
		w := wIdentifier{Use: id.Use, System: id.System, Value: id.Value}
		if id.Type != nil {
			w.Type = &wConcept{Coding: []wCoding{coding(id.Type)}}
		}
		out = append(out, w)
	}
	return out
}

func valueOf(v *unified.Value) wValue {
	var w wValue
	if v == nil {
		return w
	}
	switch v.Type {
	case unified.ValueQuantity:
		w.ValueQuantity = quantity(v.Quantity)
	case unified.ValueCodeableConcept:
		w.ValueCodeableConcept = concept(v.Concept)
	case unified.ValueString:
		w.ValueString = v.String
	case unified.ValueBoolean:
		w.ValueBoolean = v.Boolean
	case unified.ValueInteger:
		w.ValueInteger = v.Integer
	case unified.ValueRange:
		w.ValueRange = rangeOf(v.Range)
	case unified.ValueRatio:
		if v.Ratio != nil {
			w.ValueRatio = &wRatio{Numerator: quantity(v.Ratio.Numerator), Denominator: quantity(v.Ratio.Denominator)}
		}
	case unified.ValueDateTime:
		w.ValueDateTime = v.DateTime
	case unified.ValueTime:
		w.ValueTime = v.Time
	case unified.ValuePeriod:
		w.ValuePeriod = period(v.Period)
	}
	return w
}
