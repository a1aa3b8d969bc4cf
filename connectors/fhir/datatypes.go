package fhir

import (
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// The FHIR R4 datatypes the mappings decode, each holding only the elements
// the unified model uses, and their conversions. A conversion returns nil
// (or drops the element from a list) when nothing of it can be expressed,
// because FHIR allows an element to carry only extensions.

type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type fhirCodeableConcept struct {
	Coding []fhirCoding `json:"coding"`
	Text   string       `json:"text"`
}

type fhirReference struct {
	Reference string `json:"reference"`
	Display   string `json:"display"`
}

type fhirPeriod struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type fhirQuantity struct {
	Value      *float64 `json:"value"`
	Comparator string   `json:"comparator"`
	Unit       string   `json:"unit"`
	System     string   `json:"system"`
	Code       string   `json:"code"`
}

type fhirRange struct {
	Low  *fhirQuantity `json:"low"`
	High *fhirQuantity `json:"high"`
}

type fhirRatio struct {
	Numerator   *fhirQuantity `json:"numerator"`
	Denominator *fhirQuantity `json:"denominator"`
}

type fhirAttachment struct {
	ContentType string `json:"contentType"`
	Language    string `json:"language"`
	// Data is decoded only to learn whether content is inline; its bytes
	// are never copied into a unified record.
	Data     *string `json:"data"`
	URL      string  `json:"url"`
	Size     *int64  `json:"size"`
	Hash     string  `json:"hash"`
	Title    string  `json:"title"`
	Creation string  `json:"creation"`
}

type fhirIdentifier struct {
	Use    string               `json:"use"`
	Type   *fhirCodeableConcept `json:"type"`
	System string               `json:"system"`
	Value  string               `json:"value"`
}

// fhirValue is value[x] as Observation and its components carry it; other
// choice types are decoded by their resource.
type fhirValue struct {
	ValueQuantity        *fhirQuantity        `json:"valueQuantity"`
	ValueCodeableConcept *fhirCodeableConcept `json:"valueCodeableConcept"`
	ValueString          *string              `json:"valueString"`
	ValueBoolean         *bool                `json:"valueBoolean"`
	ValueInteger         *int64               `json:"valueInteger"`
	ValueRange           *fhirRange           `json:"valueRange"`
	ValueRatio           *fhirRatio           `json:"valueRatio"`
	ValueTime            string               `json:"valueTime"`
	ValueDateTime        string               `json:"valueDateTime"`
	ValuePeriod          *fhirPeriod          `json:"valuePeriod"`
}

func coding(c *fhirCoding) *unified.Coding {
	if c == nil || (c.System == "" && c.Code == "" && c.Display == "") {
		return nil
	}
	u := unified.NewCoding(c.System, c.Code, c.Display)
	return &u
}

func concept(c *fhirCodeableConcept) *unified.CodeableConcept {
	if c == nil {
		return nil
	}
	u := conceptValue(c)
	if len(u.Codings) == 0 && u.Text == "" {
		return nil
	}
	return &u
}

// conceptValue is concept for a required element: the zero value, not nil,
// when the source sent nothing.
func conceptValue(c *fhirCodeableConcept) unified.CodeableConcept {
	var u unified.CodeableConcept
	if c == nil {
		return u
	}
	u.Text = c.Text
	for i := range c.Coding {
		if cd := coding(&c.Coding[i]); cd != nil {
			if u.Codings == nil {
				u.Codings = make([]unified.Coding, 0, len(c.Coding))
			}
			u.Codings = append(u.Codings, *cd)
		}
	}
	return u
}

func concepts(cs []fhirCodeableConcept) []unified.CodeableConcept {
	var out []unified.CodeableConcept
	for i := range cs {
		if u := concept(&cs[i]); u != nil {
			if out == nil {
				out = make([]unified.CodeableConcept, 0, len(cs))
			}
			out = append(out, *u)
		}
	}
	return out
}

// firstCode returns the code of the first coding of c, for elements the
// unified model flattens to a string (a clinical status).
func firstCode(c *fhirCodeableConcept) string {
	if c == nil {
		return ""
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

// fhirTypes maps the FHIR resource types that have a unified counterpart.
var fhirTypes = map[string]unified.ResourceType{
	"Patient":            unified.Patients,
	"Practitioner":       unified.Practitioners,
	"Organization":       unified.Organizations,
	"Location":           unified.Locations,
	"Encounter":          unified.Encounters,
	"Observation":        unified.Observations,
	"Condition":          unified.Conditions,
	"AllergyIntolerance": unified.Allergies,
	"MedicationRequest":  unified.Medications,
	"Immunization":       unified.Immunizations,
	"Procedure":          unified.Procedures,
	"DiagnosticReport":   unified.DiagnosticReports,
	"DocumentReference":  unified.Documents,
	"Appointment":        unified.Appointments,
	"Coverage":           unified.Coverages,
}

// reference maps a FHIR reference. Only a relative "Type/id" (optionally with
// "/_history/v") to a unified resource becomes a followable reference; an
// absolute URL, a contained "#x", a urn:uuid or a conditional reference
// could point anywhere, so only its display is kept.
func reference(r *fhirReference) *unified.Reference {
	if r == nil {
		return nil
	}
	u := unified.Reference{Display: r.Display}
	if typ, id, ok := relativeReference(r.Reference); ok {
		if res, known := fhirTypes[typ]; known {
			u.Resource, u.ID = res, id
		}
	}
	if u == (unified.Reference{}) {
		return nil
	}
	return &u
}

func references(rs []fhirReference) []unified.Reference {
	var out []unified.Reference
	for i := range rs {
		if u := reference(&rs[i]); u != nil {
			out = append(out, *u)
		}
	}
	return out
}

// relativeReference splits "Type/id" or "Type/id/_history/v".
func relativeReference(ref string) (typ, id string, ok bool) {
	parts := strings.Split(ref, "/")
	switch {
	case len(parts) == 2:
	case len(parts) == 4 && parts[2] == "_history" && parts[3] != "":
	default:
		return "", "", false
	}
	typ, id = parts[0], parts[1]
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' || strings.ContainsAny(typ, ":?#") || !unified.ValidID(id) {
		return "", "", false
	}
	return typ, id, true
}

// referenceTo is reference restricted to one target resource: a subject
// that is a Group, or a patient field pointing elsewhere, is not mapped as
// a patient.
func referenceTo(r *fhirReference, want unified.ResourceType) *unified.Reference {
	if r == nil {
		return nil
	}
	// A relative reference to another type (a Group, a Device) is not the
	// wanted target, even if only its display could be kept.
	if typ, _, ok := relativeReference(r.Reference); ok && fhirTypes[typ] != want {
		return nil
	}
	u := reference(r)
	if u == nil || (u.Resource != "" && u.Resource != want) {
		return nil
	}
	if u.Resource == "" && u.Display == "" {
		return nil
	}
	return u
}

func period(p *fhirPeriod) *unified.Period {
	if p == nil || (p.Start == "" && p.End == "") {
		return nil
	}
	return &unified.Period{Start: p.Start, End: p.End}
}

func quantity(q *fhirQuantity) *unified.Quantity {
	if q == nil || (q.Value == nil && q.Unit == "" && q.Code == "") {
		return nil
	}
	return &unified.Quantity{
		Value: q.Value, Comparator: q.Comparator, Unit: q.Unit,
		System: unified.CanonicalSystem(q.System), Code: q.Code,
	}
}

func rangeOf(r *fhirRange) *unified.Range {
	if r == nil {
		return nil
	}
	u := unified.Range{Low: quantity(r.Low), High: quantity(r.High)}
	if u.Low == nil && u.High == nil {
		return nil
	}
	return &u
}

func ratio(r *fhirRatio) *unified.Ratio {
	if r == nil {
		return nil
	}
	u := unified.Ratio{Numerator: quantity(r.Numerator), Denominator: quantity(r.Denominator)}
	if u.Numerator == nil && u.Denominator == nil {
		return nil
	}
	return &u
}

// attachment maps an attachment's metadata. A relative URL ("Binary/1") is
// offered as a passthrough path; an absolute one names the source's host,
// which the client has no business with, so it is dropped.
func attachment(a *fhirAttachment) unified.Attachment {
	u := unified.Attachment{
		ContentType: a.ContentType, Language: a.Language, Title: a.Title,
		Size: a.Size, Hash: a.Hash, Creation: a.Creation, Inline: a.Data != nil,
	}
	if typ, id, ok := relativeReference(a.URL); ok {
		u.PassthroughPath = typ + "/" + id
	}
	return u
}

func identifiers(ids []fhirIdentifier) []unified.Identifier {
	var out []unified.Identifier
	for i := range ids {
		id := &ids[i]
		if id.Value == "" {
			continue
		}
		u := unified.Identifier{System: id.System, Value: id.Value, Use: id.Use}
		if id.Type != nil {
			for j := range id.Type.Coding {
				if c := coding(&id.Type.Coding[j]); c != nil {
					u.Type = c
					break
				}
			}
		}
		if out == nil {
			out = make([]unified.Identifier, 0, len(ids))
		}
		out = append(out, u)
	}
	return out
}

// value maps value[x]; nil when the source gave none.
func (v *fhirValue) value() *unified.Value {
	switch {
	case v.ValueQuantity != nil:
		if q := quantity(v.ValueQuantity); q != nil {
			return &unified.Value{Type: unified.ValueQuantity, Quantity: q}
		}
	case v.ValueCodeableConcept != nil:
		if c := concept(v.ValueCodeableConcept); c != nil {
			return &unified.Value{Type: unified.ValueCodeableConcept, Concept: c}
		}
	case v.ValueString != nil:
		return &unified.Value{Type: unified.ValueString, String: v.ValueString}
	case v.ValueBoolean != nil:
		return &unified.Value{Type: unified.ValueBoolean, Boolean: v.ValueBoolean}
	case v.ValueInteger != nil:
		return &unified.Value{Type: unified.ValueInteger, Integer: v.ValueInteger}
	case v.ValueRange != nil:
		if r := rangeOf(v.ValueRange); r != nil {
			return &unified.Value{Type: unified.ValueRange, Range: r}
		}
	case v.ValueRatio != nil:
		if r := ratio(v.ValueRatio); r != nil {
			return &unified.Value{Type: unified.ValueRatio, Ratio: r}
		}
	case v.ValueDateTime != "":
		return &unified.Value{Type: unified.ValueDateTime, DateTime: v.ValueDateTime}
	case v.ValueTime != "":
		return &unified.Value{Type: unified.ValueTime, Time: v.ValueTime}
	case v.ValuePeriod != nil:
		if p := period(v.ValuePeriod); p != nil {
			return &unified.Value{Type: unified.ValuePeriod, Period: p}
		}
	}
	return nil
}
