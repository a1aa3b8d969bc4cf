package hl7v2

import (
	"strconv"
	"strings"
)

// ParseError says why bytes are not an HL7 v2 message. It names the
// offending segment by position and never quotes the message: what a source
// sends is PHI.
type ParseError struct {
	// Segment is the 1-based position of the offending segment among the
	// message's non-blank lines; 0 when the message as a whole is at fault.
	Segment int
	// Reason is fixed wording.
	Reason string
}

func (e *ParseError) Error() string {
	if e.Segment > 0 {
		return "hl7v2: segment " + strconv.Itoa(e.Segment) + ": " + e.Reason
	}
	return "hl7v2: " + e.Reason
}

// Parse parses one HL7 v2 message (or a batch: FHS/BHS, then messages) in
// ER7 "pipe and hat" encoding.
//
// The delimiters are those MSH-1 and MSH-2 declare (four encoding
// characters, or five with the v2.7 truncation character). Segments end in
// a carriage return as HL7 requires, but a line feed or CR LF is accepted
// too, and blank lines are skipped. The first segment must be MSH, BHS or
// FHS; every later header segment must declare the same delimiters. Values
// are unescaped (see the package documentation); bytes that are not valid
// UTF-8 are read as ISO 8859-1.
//
// Parse never panics and keeps no reference to data.
func Parse(data []byte) (*Message, error) {
	s := string(data)
	s = strings.TrimPrefix(s, "\xef\xbb\xbf")
	s = strings.TrimLeft(s, " \t\r\n")
	if s == "" {
		return nil, &ParseError{Reason: "empty message"}
	}
	if len(s) < 4 || !IsHeader(s[:3]) {
		return nil, &ParseError{Segment: 1, Reason: "the message does not begin with an MSH, BHS or FHS segment"}
	}
	d := Delimiters{Field: s[3]}
	enc := s[4:]
	if i := strings.IndexAny(enc, string(d.Field)+"\r\n"); i >= 0 {
		enc = enc[:i]
	}
	if len(enc) != 4 && len(enc) != 5 {
		return nil, &ParseError{Segment: 1, Reason: "MSH-2 must declare four or five encoding characters"}
	}
	d.Component, d.Repetition, d.Escape, d.Subcomponent = enc[0], enc[1], enc[2], enc[3]
	if len(enc) == 5 {
		d.Truncation = enc[4]
	}
	if d.Validate() != nil || len(enc) == 5 && d.Truncation == 0 {
		return nil, &ParseError{Segment: 1, Reason: "the delimiters of MSH-1 and MSH-2 are not usable"}
	}

	m := &Message{Delims: d}
	p := parser{d: d, enc: enc}
	n := 0
	for len(s) > 0 {
		line := s
		if i := strings.IndexAny(s, "\r\n"); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		n++
		seg, err := p.segment(line, n)
		if err != nil {
			return nil, err
		}
		m.Segments = append(m.Segments, seg)
	}
	return m, nil
}

type parser struct {
	d   Delimiters
	enc string // MSH-2 as declared

	// Slabs the parsed tree's slices are cut from: a message has thousands
	// of small ones, and one allocation per slab rather than per slice
	// keeps parsing off the allocator's hot path. Each slice is cut with
	// its capacity equal to its length, so an append by a caller copies
	// rather than overwrites its neighbour.
	strs  []string
	comps []Component
	reps  []Repetition
}

const slabSize = 256

func (p *parser) allocStrings(n int) []string {
	if n > slabSize/4 {
		return make([]string, n)
	}
	if len(p.strs) < n {
		p.strs = make([]string, slabSize)
	}
	s := p.strs[:n:n]
	p.strs = p.strs[n:]
	return s
}

func (p *parser) allocComps(n int) []Component {
	if n > slabSize/4 {
		return make([]Component, n)
	}
	if len(p.comps) < n {
		p.comps = make([]Component, slabSize)
	}
	s := p.comps[:n:n]
	p.comps = p.comps[n:]
	return s
}

func (p *parser) allocReps(n int) []Repetition {
	if n > slabSize/4 {
		return make([]Repetition, n)
	}
	if len(p.reps) < n {
		p.reps = make([]Repetition, slabSize)
	}
	s := p.reps[:n:n]
	p.reps = p.reps[n:]
	return s
}

// split calls fn with each part of s between sep bytes, and its index.
func split(s string, sep byte, fn func(i int, part string)) {
	for i := 0; ; i++ {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			fn(i, s)
			return
		}
		fn(i, s[:j])
		s = s[j+1:]
	}
}

func (p *parser) segment(line string, n int) (*Segment, error) {
	name := line
	if i := strings.IndexByte(line, p.d.Field); i >= 0 {
		name = line[:i]
	}
	if !validName(name) {
		return nil, &ParseError{Segment: n, Reason: "not a segment: its name is not three upper-case letters or digits"}
	}
	seg := &Segment{Name: name, raw: line}
	rest := line[len(name):]
	if IsHeader(name) {
		head := string(p.d.Field) + p.enc
		if !strings.HasPrefix(rest, head) {
			return nil, &ParseError{Segment: n, Reason: "a header segment declares other delimiters than the first"}
		}
		rest = rest[len(head):]
		if rest != "" && rest[0] != p.d.Field {
			return nil, &ParseError{Segment: n, Reason: "a header segment declares other delimiters than the first"}
		}
		seg.Fields = append(seg.Fields, Value(string(p.d.Field)), Value(p.enc))
	}
	if rest == "" {
		return seg, nil
	}
	fields := make([]Field, 0, len(seg.Fields)+strings.Count(rest, string(p.d.Field)))
	fields = append(fields, seg.Fields...)
	split(rest[1:], p.d.Field, func(_ int, raw string) { fields = append(fields, p.field(raw)) })
	seg.Fields = fields
	return seg, nil
}

func (p *parser) field(raw string) Field {
	if raw == "" {
		return nil
	}
	f := Field(p.allocReps(strings.Count(raw, string(p.d.Repetition)) + 1))
	split(raw, p.d.Repetition, func(i int, r string) { f[i] = p.repetition(r) })
	return f
}

func (p *parser) repetition(raw string) Repetition {
	if raw == "" {
		return nil
	}
	r := Repetition(p.allocComps(strings.Count(raw, string(p.d.Component)) + 1))
	split(raw, p.d.Component, func(i int, c string) { r[i] = p.component(c) })
	return r
}

func (p *parser) component(raw string) Component {
	if raw == "" {
		return nil
	}
	c := Component(p.allocStrings(strings.Count(raw, string(p.d.Subcomponent)) + 1))
	split(raw, p.d.Subcomponent, func(i int, s string) { c[i] = unescape(s, p.d) })
	return c
}

// validName accepts a segment name: an upper-case letter, then two
// upper-case letters or digits (Z segments included).
func validName(s string) bool {
	if len(s) != 3 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < 3; i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
