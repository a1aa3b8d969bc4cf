package hl7v2

import (
	"fmt"
)

// Delimiters are a message's encoding characters: the field separator of
// MSH-1 and the component, repetition, escape and subcomponent characters of
// MSH-2, in that order, then the truncation character HL7 v2.7 added.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
	// Truncation is the fifth character of MSH-2 (HL7 v2.7 and later); 0
	// when MSH-2 declares only four.
	Truncation byte
}

// DefaultDelimiters are the encoding characters HL7 recommends and nearly
// every system uses: |^~\&.
var DefaultDelimiters = Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}

// EncodingCharacters returns MSH-2 as declared by d ("^~\&").
func (d Delimiters) EncodingCharacters() string {
	b := []byte{d.Component, d.Repetition, d.Escape, d.Subcomponent}
	if d.Truncation != 0 {
		b = append(b, d.Truncation)
	}
	return string(b)
}

// Validate checks that the delimiters can frame a message: all present
// (the truncation character is optional), all distinct, and each a
// printable ASCII character that is neither a letter, a digit nor a space.
func (d Delimiters) Validate() error {
	chars := []byte{d.Field, d.Component, d.Repetition, d.Escape, d.Subcomponent}
	if d.Truncation != 0 {
		chars = append(chars, d.Truncation)
	}
	for i, c := range chars {
		if !delimiterChar(c) {
			return fmt.Errorf("hl7v2: encoding character %d is not a usable delimiter", i+1)
		}
		for _, o := range chars[:i] {
			if o == c {
				return fmt.Errorf("hl7v2: encoding character %d repeats another", i+1)
			}
		}
	}
	return nil
}

func delimiterChar(c byte) bool {
	return c > ' ' && c < 0x7f && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9')
}

// Message is a parsed or built HL7 v2 message: its delimiters and its
// segments, in order. Values held in it are unescaped; Encode escapes them.
type Message struct {
	Delims   Delimiters
	Segments []*Segment
}

// Segment is one segment: its three-character name and its fields.
// Fields[0] is field 1. For the header segments (MSH, BHS, FHS) field 1 is
// the field separator and field 2 the encoding characters, as HL7 numbers
// them, so MSH-9 is Fields[8]; Encode writes those two from the message's
// Delimiters, whatever the fields hold.
type Segment struct {
	Name   string
	Fields []Field
	// raw is the segment's text as received, for a parsed segment.
	raw string
}

// Field is a field's repetitions; most fields have at most one. A nil Field
// is an empty field.
type Field []Repetition

// Repetition is one occurrence of a field: its components.
type Repetition []Component

// Component is a component's subcomponents.
type Component []string

// NewMessage returns an empty message with the given delimiters.
func NewMessage(d Delimiters) *Message { return &Message{Delims: d} }

// IsHeader reports whether name is a header segment (MSH, BHS or FHS), whose
// first two fields are the delimiters themselves.
func IsHeader(name string) bool { return name == "MSH" || name == "BHS" || name == "FHS" }

// Add appends a segment called name with the given fields and returns it.
// For a header segment (MSH, BHS, FHS) fields 1 and 2 are filled from the
// message's delimiters and the given fields start at field 3. Trailing
// empty fields are left out, as HL7 allows.
func (m *Message) Add(name string, fields ...Field) *Segment {
	for len(fields) > 0 && fields[len(fields)-1] == nil {
		fields = fields[:len(fields)-1]
	}
	s := &Segment{Name: name}
	if IsHeader(name) {
		s.Fields = append(s.Fields, Value(string(m.Delims.Field)), Value(m.Delims.EncodingCharacters()))
	}
	s.Fields = append(s.Fields, fields...)
	m.Segments = append(m.Segments, s)
	return s
}

// Segment returns the first segment called name, or nil.
func (m *Message) Segment(name string) *Segment {
	if m == nil {
		return nil
	}
	for _, s := range m.Segments {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// All returns every segment called name, in order.
func (m *Message) All(name string) []*Segment {
	if m == nil {
		return nil
	}
	var out []*Segment
	for _, s := range m.Segments {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// Header returns the message header (the first MSH segment), or nil.
func (m *Message) Header() *Segment { return m.Segment("MSH") }

// Field returns field n (1-based), or nil when the segment has fewer. It is
// safe to call on a nil segment.
func (s *Segment) Field(n int) Field {
	if s == nil || n < 1 || n > len(s.Fields) {
		return nil
	}
	return s.Fields[n-1]
}

// Get returns one value by its HL7 position, all indexes 1-based: field,
// repetition, component, subcomponent. Absent positions read as "".
func (s *Segment) Get(field, rep, comp, sub int) string {
	return s.Field(field).Rep(rep).Comp(comp).Sub(sub)
}

// Value returns the first component of the first repetition of field n, the
// whole value of a simple field.
func (s *Segment) Value(n int) string { return s.Field(n).Value() }

// Set replaces field n (1-based), adding empty fields before it as needed.
func (s *Segment) Set(n int, f Field) {
	if n < 1 {
		return
	}
	for len(s.Fields) < n {
		s.Fields = append(s.Fields, nil)
	}
	s.Fields[n-1] = f
}

// Raw returns the segment's text exactly as it was received (without its
// terminator), or "" for a segment that was built rather than parsed.
func (s *Segment) Raw() string {
	if s == nil {
		return ""
	}
	return s.raw
}

// Rep returns repetition n (1-based), or nil.
func (f Field) Rep(n int) Repetition {
	if n < 1 || n > len(f) {
		return nil
	}
	return f[n-1]
}

// Value returns the first subcomponent of the first component of the first
// repetition.
func (f Field) Value() string { return f.Rep(1).Comp(1).Sub(1) }

// Comp returns component n (1-based), or nil.
func (r Repetition) Comp(n int) Component {
	if n < 1 || n > len(r) {
		return nil
	}
	return r[n-1]
}

// Value returns the first subcomponent of component n.
func (r Repetition) Value(n int) string { return r.Comp(n).Sub(1) }

// Sub returns subcomponent n (1-based), or "".
func (c Component) Sub(n int) string {
	if n < 1 || n > len(c) {
		return ""
	}
	return c[n-1]
}

// Value returns the first subcomponent.
func (c Component) Value() string { return c.Sub(1) }

// Value returns a field holding the single value v; nil (an empty field)
// when v is "".
func Value(v string) Field {
	if v == "" {
		return nil
	}
	return Field{Repetition{Component{v}}}
}

// Components returns a field of one repetition with the given components,
// each a single value. Trailing empty components are left out, as HL7
// allows; nil when all are empty.
func Components(cs ...string) Field {
	r := Comps(cs...)
	if r == nil {
		return nil
	}
	return Field{r}
}

// Comps returns a repetition with the given components, each a single
// value, without trailing empty components; nil when all are empty.
func Comps(cs ...string) Repetition {
	n := len(cs)
	for n > 0 && cs[n-1] == "" {
		n--
	}
	if n == 0 {
		return nil
	}
	r := make(Repetition, n)
	for i, c := range cs[:n] {
		if c != "" {
			r[i] = Component{c}
		}
	}
	return r
}

// Subs returns a component with the given subcomponents, without trailing
// empty ones; nil when all are empty.
func Subs(ss ...string) Component {
	n := len(ss)
	for n > 0 && ss[n-1] == "" {
		n--
	}
	if n == 0 {
		return nil
	}
	return Component(append([]string(nil), ss[:n]...))
}
