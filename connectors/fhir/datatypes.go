package fhir

import (
	"math"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// The FHIR R4 datatypes the mappings decode, each holding only the elements
// the unified model uses, and their conversions. A conversion returns nil
// (or drops the element from a list) when nothing of it can be expressed,
// because FHIR allows an element to carry only extensions.
//
// A decoding struct holds an element by value wherever an absent element
// and an empty one map alike, and by pointer only where the mapping must
// tell them apart: a choice such as value[x], whose first present variant
// wins even when it is empty, and a boolean or a number, whose zero is a
// value. Values cost no allocation, and the decoding structs are reused
// from one record to the next (see reset.go). Each decoding struct has a
// reset method, which empties it for the next record while keeping the
// arrays of its lists.
//
// The conversions are methods of mapper (mapper.go), which holds the
// unified values a record's fields point to.

type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type fhirCodeableConcept struct {
	Coding []fhirCoding `json:"coding"`
	Text   string       `json:"text"`
}

func (c *fhirCodeableConcept) reset() {
	*c = fhirCodeableConcept{Coding: clearList(c.Coding)}
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
	// Value is read through value(). A reset quantity's Value points to
	// its own slot, which holds absentValue: the decoder writes a number
	// into the slot, null makes Value nil, and an absent value leaves the
	// slot as it was, so a quantity decodes without allocating its value
	// and still tells an absent value from a 0. A quantity that was never
	// reset (the zero value) has a nil Value, which the decoder allocates
	// as usual.
	Value      *float64 `json:"value"`
	Comparator string   `json:"comparator"`
	Unit       string   `json:"unit"`
	System     string   `json:"system"`
	Code       string   `json:"code"`
	slot       float64
}

// absentValue marks a slot the decoder did not write. It is a NaN, which no
// JSON number decodes to.
var absentValue = math.Float64frombits(0x7ff8_0000_feed_0001)

func (q *fhirQuantity) reset() {
	*q = fhirQuantity{slot: absentValue}
	q.Value = &q.slot
}

// value returns Value, or nil when the source gave none.
func (q *fhirQuantity) value() *float64 {
	if q.Value == nil || math.Float64bits(*q.Value) == math.Float64bits(absentValue) {
		return nil
	}
	return q.Value
}

type fhirRange struct {
	Low  fhirQuantity `json:"low"`
	High fhirQuantity `json:"high"`
}

func (r *fhirRange) reset() {
	*r = fhirRange{Low: emptied(&r.Low), High: emptied(&r.High)}
}

type fhirRatio struct {
	Numerator   fhirQuantity `json:"numerator"`
	Denominator fhirQuantity `json:"denominator"`
}

type fhirAttachment struct {
	ContentType string `json:"contentType"`
	Language    string `json:"language"`
	// Data is decoded only to learn whether content is inline; its bytes
	// are never copied into a unified record (nor out of the source's
	// answer, which the decoded strings refer to).
	Data     *string `json:"data"`
	URL      string  `json:"url"`
	Size     *int64  `json:"size"`
	Hash     string  `json:"hash"`
	Title    string  `json:"title"`
	Creation string  `json:"creation"`
}

type fhirIdentifier struct {
	Use    string              `json:"use"`
	Type   fhirCodeableConcept `json:"type"`
	System string              `json:"system"`
	Value  string              `json:"value"`
}

func (id *fhirIdentifier) reset() {
	*id = fhirIdentifier{Type: emptied(&id.Type)}
}

// fhirValue is value[x] as Observation and its components carry it; other
// choice types are decoded by their resource. Every variant is a pointer:
// the first one present is the value, even when it holds nothing.
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

// codingOf maps a coding; ok is false when it holds nothing.
func codingOf(c *fhirCoding) (u unified.Coding, ok bool) {
	if c.System == "" && c.Code == "" && c.Display == "" {
		return u, false
	}
	if i := canonicalSystem(c.System); i >= 0 {
		return unified.Coding{System: c.System, SystemName: canonicalSystems[i].name, Code: c.Code, Display: c.Display}, true
	}
	return unified.NewCoding(c.System, c.Code, c.Display), true
}

// canonicalSystems are the canonical URIs of the code systems Ferry
// recognises, and their names, which most codings name: codingOf and
// quantity find them here, without unified's two lookups by the URI. Any
// other system, an alias among them, goes through unified.
var canonicalSystems = func() []struct{ uri, name string } {
	uris := []string{
		unified.SystemLOINC, unified.SystemSNOMED, unified.SystemRxNorm, unified.SystemICD10CM,
		unified.SystemCVX, unified.SystemNDC, unified.SystemUCUM, unified.SystemNPI,
	}
	out := make([]struct{ uri, name string }, len(uris))
	for i, uri := range uris {
		out[i].uri, out[i].name = unified.CanonicalSystem(uri), unified.SystemName(uri)
	}
	return out
}()

// canonicalSystem returns the index of s in canonicalSystems, or -1.
func canonicalSystem(s string) int {
	for i := range canonicalSystems {
		if s == canonicalSystems[i].uri {
			return i
		}
	}
	return -1
}

func (m *mapper) coding(c *fhirCoding) *unified.Coding {
	if u, ok := codingOf(c); ok {
		return m.codings.one(u)
	}
	return nil
}

func (m *mapper) concept(c *fhirCodeableConcept) *unified.CodeableConcept {
	if u, ok := m.conceptOf(c); ok {
		return m.concepts.one(u)
	}
	return nil
}

// conceptOf maps a concept; ok is false when it holds nothing.
func (m *mapper) conceptOf(c *fhirCodeableConcept) (unified.CodeableConcept, bool) {
	if len(c.Coding) == 0 && c.Text == "" {
		return unified.CodeableConcept{}, false
	}
	u := m.conceptValue(c)
	return u, len(u.Codings) > 0 || u.Text != ""
}

// conceptValue is concept for a required element: the zero value, not nil,
// when the source sent nothing.
func (m *mapper) conceptValue(c *fhirCodeableConcept) unified.CodeableConcept {
	u := unified.CodeableConcept{Text: c.Text}
	for i := range c.Coding {
		if cd, ok := codingOf(&c.Coding[i]); ok {
			if u.Codings == nil {
				u.Codings = m.codings.list(len(c.Coding))
			}
			u.Codings = append(u.Codings, cd)
		}
	}
	return u
}

func (m *mapper) conceptList(cs []fhirCodeableConcept) []unified.CodeableConcept {
	var out []unified.CodeableConcept
	for i := range cs {
		if u, ok := m.conceptOf(&cs[i]); ok {
			if out == nil {
				out = m.concepts.list(len(cs))
			}
			out = append(out, u)
		}
	}
	return out
}

// firstCode returns the code of the first coding of c, for elements the
// unified model flattens to a string (a clinical status).
func firstCode(c *fhirCodeableConcept) string {
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

// referenceOf maps a FHIR reference. Only a relative "Type/id" (optionally
// with "/_history/v") to a unified resource becomes a followable reference;
// an absolute URL, a contained "#x", a urn:uuid or a conditional reference
// could point anywhere, so only its display is kept. typ is the type a
// relative reference names, whether Ferry serves it or not, and "" for any
// other reference.
func referenceOf(r *fhirReference) (u unified.Reference, typ string) {
	u.Display = r.Display
	typ, id, ok := relativeReference(r.Reference)
	if !ok {
		return u, ""
	}
	if res, known := unified.FromFHIRType(typ); known {
		u.Resource, u.ID = res, id
	}
	return u, typ
}

func (m *mapper) reference(r *fhirReference) *unified.Reference {
	if u, _ := referenceOf(r); u != (unified.Reference{}) {
		return m.references.one(u)
	}
	return nil
}

func (m *mapper) referenceList(rs []fhirReference) []unified.Reference {
	var out []unified.Reference
	for i := range rs {
		if u, _ := referenceOf(&rs[i]); u != (unified.Reference{}) {
			if out == nil {
				out = m.references.list(len(rs))
			}
			out = append(out, u)
		}
	}
	return out
}

// relativeReference splits "Type/id" or "Type/id/_history/v".
func relativeReference(ref string) (typ, id string, ok bool) {
	typ, rest, found := strings.Cut(ref, "/")
	if !found {
		return "", "", false
	}
	id, history, versioned := strings.Cut(rest, "/")
	if versioned {
		// Only "_history/v", with a v and nothing after it.
		version, ok := strings.CutPrefix(history, "_history/")
		if !ok || version == "" || strings.IndexByte(version, '/') >= 0 {
			return "", "", false
		}
	}
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' || !unified.ValidID(id) {
		return "", "", false
	}
	for i := 1; i < len(typ); i++ {
		if c := typ[i]; c == ':' || c == '?' || c == '#' {
			return "", "", false
		}
	}
	return typ, id, true
}

// referenceTo is reference restricted to one target resource: a subject
// that is a Group, or a patient field pointing elsewhere, is not mapped as
// a patient.
func (m *mapper) referenceTo(r *fhirReference, want unified.ResourceType) *unified.Reference {
	u, typ := referenceOf(r)
	return m.target(u, typ, want)
}

// target is referenceTo for a reference that referenceOf mapped. A
// relative reference (typ is set) to another type (a Group, a Device) is
// not the wanted target, even if only its display could be kept; u.Resource
// is the type's resource, or "" for a type Ferry does not serve.
func (m *mapper) target(u unified.Reference, typ string, want unified.ResourceType) *unified.Reference {
	if typ != "" && u.Resource != want {
		return nil
	}
	if u.Resource == "" && u.Display == "" {
		return nil
	}
	return m.references.one(u)
}

func (m *mapper) period(p *fhirPeriod) *unified.Period {
	if p.Start == "" && p.End == "" {
		return nil
	}
	return m.periods.one(unified.Period{Start: p.Start, End: p.End})
}

func (m *mapper) quantity(q *fhirQuantity) *unified.Quantity {
	value := q.value()
	if value == nil && q.Unit == "" && q.Code == "" {
		return nil
	}
	system := q.System
	if canonicalSystem(system) < 0 {
		system = unified.CanonicalSystem(system)
	}
	return m.quantities.one(unified.Quantity{
		Value: value, Comparator: q.Comparator, Unit: q.Unit,
		System: system, Code: q.Code,
	})
}

func (m *mapper) rangeOf(r *fhirRange) *unified.Range {
	u := unified.Range{Low: m.quantity(&r.Low), High: m.quantity(&r.High)}
	if u.Low == nil && u.High == nil {
		return nil
	}
	return m.ranges.one(u)
}

func (m *mapper) ratio(r *fhirRatio) *unified.Ratio {
	u := unified.Ratio{Numerator: m.quantity(&r.Numerator), Denominator: m.quantity(&r.Denominator)}
	if u.Numerator == nil && u.Denominator == nil {
		return nil
	}
	return m.ratios.one(u)
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

func (m *mapper) identifierList(ids []fhirIdentifier) []unified.Identifier {
	var out []unified.Identifier
	for i := range ids {
		id := &ids[i]
		if id.Value == "" || id.System == IdempotencySystem {
			// Ferry's own idempotency identifier (write.go) is its
			// bookkeeping, not the record's.
			continue
		}
		u := unified.Identifier{System: id.System, Value: id.Value, Use: id.Use}
		for j := range id.Type.Coding {
			if c := m.coding(&id.Type.Coding[j]); c != nil {
				u.Type = c
				break
			}
		}
		if out == nil {
			out = m.identifiers.list(len(ids))
		}
		out = append(out, u)
	}
	return out
}

// value maps value[x]; nil when the source gave none.
func (m *mapper) value(v *fhirValue) *unified.Value {
	switch {
	case v.ValueQuantity != nil:
		if q := m.quantity(v.ValueQuantity); q != nil {
			return m.values.one(unified.Value{Type: unified.ValueQuantity, Quantity: q})
		}
	case v.ValueCodeableConcept != nil:
		if c := m.concept(v.ValueCodeableConcept); c != nil {
			return m.values.one(unified.Value{Type: unified.ValueCodeableConcept, Concept: c})
		}
	case v.ValueString != nil:
		return m.values.one(unified.Value{Type: unified.ValueString, String: v.ValueString})
	case v.ValueBoolean != nil:
		return m.values.one(unified.Value{Type: unified.ValueBoolean, Boolean: v.ValueBoolean})
	case v.ValueInteger != nil:
		return m.values.one(unified.Value{Type: unified.ValueInteger, Integer: v.ValueInteger})
	case v.ValueRange != nil:
		if r := m.rangeOf(v.ValueRange); r != nil {
			return m.values.one(unified.Value{Type: unified.ValueRange, Range: r})
		}
	case v.ValueRatio != nil:
		if r := m.ratio(v.ValueRatio); r != nil {
			return m.values.one(unified.Value{Type: unified.ValueRatio, Ratio: r})
		}
	case v.ValueDateTime != "":
		return m.values.one(unified.Value{Type: unified.ValueDateTime, DateTime: v.ValueDateTime})
	case v.ValueTime != "":
		return m.values.one(unified.Value{Type: unified.ValueTime, Time: v.ValueTime})
	case v.ValuePeriod != nil:
		if p := m.period(v.ValuePeriod); p != nil {
			return m.values.one(unified.Value{Type: unified.ValuePeriod, Period: p})
		}
	}
	return nil
}
