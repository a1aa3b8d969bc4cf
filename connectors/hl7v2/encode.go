package hl7v2

import (
	"errors"
	"strconv"
)

// Encode returns the message in ER7 encoding, every segment ended by a
// carriage return, every value escaped. The header segments' fields 1 and
// 2 are written from m.Delims.
func (m *Message) Encode() ([]byte, error) { return m.AppendEncode(nil) }

// AppendEncode appends the encoded message to dst.
func (m *Message) AppendEncode(dst []byte) ([]byte, error) {
	if err := m.Delims.Validate(); err != nil {
		return dst, err
	}
	for i, s := range m.Segments {
		var err error
		if dst, err = s.AppendEncode(dst, m.Delims); err != nil {
			return dst, errors.New("hl7v2: segment " + strconv.Itoa(i+1) + ": " + err.Error())
		}
		dst = append(dst, '\r')
	}
	return dst, nil
}

// errSegmentName is returned for a segment whose name cannot be encoded.
var errSegmentName = errors.New("the name is not three upper-case letters or digits")

// AppendEncode appends the segment, without a terminator, encoded with d.
// The caller has checked d (Delimiters.Validate).
func (s *Segment) AppendEncode(dst []byte, d Delimiters) ([]byte, error) {
	if !validName(s.Name) {
		return dst, errSegmentName
	}
	dst = append(dst, s.Name...)
	fields := s.Fields
	if IsHeader(s.Name) {
		dst = append(dst, d.Field)
		dst = append(dst, d.EncodingCharacters()...)
		if len(fields) >= 2 {
			fields = fields[2:]
		} else {
			fields = nil
		}
	}
	for _, f := range fields {
		dst = append(dst, d.Field)
		for i, r := range f {
			if i > 0 {
				dst = append(dst, d.Repetition)
			}
			for j, c := range r {
				if j > 0 {
					dst = append(dst, d.Component)
				}
				for k, v := range c {
					if k > 0 {
						dst = append(dst, d.Subcomponent)
					}
					dst = appendEscaped(dst, v, d)
				}
			}
		}
	}
	return dst, nil
}

// Encode returns the segment encoded with d, without a terminator.
func (s *Segment) Encode(d Delimiters) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	b, err := s.AppendEncode(nil, d)
	return string(b), err
}
