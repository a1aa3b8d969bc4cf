package hl7v2

import (
	"strings"
	"unicode/utf8"
)

// unescape turns a value as it appears between delimiters into its text.
// The sequences are those of HL7 v2.5 section 2.7:
//
//	\F\ \S\ \T\ \R\ \E\  the field, component, subcomponent, repetition
//	                     and escape characters (\P\, the truncation
//	                     character, when MSH-2 declares one)
//	\Xhh…\               bytes in hexadecimal: UTF-8 when they are valid
//	                     UTF-8, otherwise ISO 8859-1 (a space is read as
//	                     the 0 that python-hl7 pads with)
//	\.br\ \.sp\ \.ce\    a line break; \.sk\ a space
//	\H\ \N\ \.fi\ \.nf\ \.in\ \.ti\, \Cxxyy\ \Mxxyyzz\, \Z…\
//	                     formatting, character set switches and local
//	                     sequences: no plain-text equivalent, dropped
//
// A sequence that is none of these, or an escape character without a
// closing one, is kept as it stands: senders that do not escape a
// backslash in free text are common. Raw bytes that are not valid UTF-8
// are read as ISO 8859-1.
func unescape(raw string, d Delimiters) string {
	valid := utf8.ValidString(raw)
	if strings.IndexByte(raw, d.Escape) < 0 {
		if valid {
			return raw
		}
		return latin1(raw)
	}
	var b strings.Builder
	b.Grow(len(raw))
	literal := func(s string) {
		if valid {
			b.WriteString(s)
		} else {
			writeLatin1(&b, s)
		}
	}
	for raw != "" {
		i := strings.IndexByte(raw, d.Escape)
		if i < 0 {
			literal(raw)
			break
		}
		literal(raw[:i])
		rest := raw[i+1:]
		j := strings.IndexByte(rest, d.Escape)
		if j < 0 {
			literal(raw[i:])
			break
		}
		if !decodeEscape(&b, rest[:j], d) {
			literal(raw[i : i+j+2])
		}
		raw = rest[j+1:]
	}
	return b.String()
}

// decodeEscape writes the text of the escape sequence seq (without its
// escape characters) and reports whether it knew the sequence.
func decodeEscape(b *strings.Builder, seq string, d Delimiters) bool {
	switch seq {
	case "":
		return false
	case "F":
		b.WriteByte(d.Field)
	case "S":
		b.WriteByte(d.Component)
	case "T":
		b.WriteByte(d.Subcomponent)
	case "R":
		b.WriteByte(d.Repetition)
	case "E":
		b.WriteByte(d.Escape)
	case "P":
		if d.Truncation == 0 {
			return false
		}
		b.WriteByte(d.Truncation)
	case "H", "N", ".fi", ".nf":
	case ".br", ".ce":
		b.WriteByte('\n')
	default:
		switch {
		case seq[0] == 'X':
			// python-hl7 pads single hex digits with a space ("\X a\" for a
			// line feed): read the padding as the zero it stands for.
			raw, ok := decodeHex(strings.ReplaceAll(seq[1:], " ", "0"))
			if !ok {
				return false
			}
			if utf8.Valid(raw) {
				b.Write(raw)
			} else {
				writeLatin1(b, string(raw))
			}
		case strings.HasPrefix(seq, ".sp") && digits(seq[3:]):
			b.WriteByte('\n')
		case strings.HasPrefix(seq, ".sk") && digits(seq[3:]):
			b.WriteByte(' ')
		case (strings.HasPrefix(seq, ".in") || strings.HasPrefix(seq, ".ti")) && signedDigits(seq[3:]):
		case (seq[0] == 'C' && len(seq) == 5 || seq[0] == 'M' && (len(seq) == 5 || len(seq) == 7)) && hexDigits(seq[1:]):
		case seq[0] == 'Z':
		default:
			return false
		}
	}
	return true
}

// appendEscaped appends v with every character that would be read as
// structure escaped, so that unescape gives v back: the delimiters, line
// breaks (\.br\) and other control characters (\Xhh\). Invalid UTF-8 is
// replaced by U+FFFD.
func appendEscaped(dst []byte, v string, d Delimiters) []byte {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		var seq string
		switch {
		case c == d.Field:
			seq = "F"
		case c == d.Component:
			seq = "S"
		case c == d.Subcomponent:
			seq = "T"
		case c == d.Repetition:
			seq = "R"
		case c == d.Escape:
			seq = "E"
		case d.Truncation != 0 && c == d.Truncation:
			seq = "P"
		case c == '\n':
			seq = ".br"
		case c < 0x20 || c == 0x7f:
			const hex = "0123456789ABCDEF"
			dst = append(dst, d.Escape, 'X', hex[c>>4], hex[c&0xf], d.Escape)
			continue
		default:
			dst = append(dst, c)
			continue
		}
		dst = append(dst, d.Escape)
		dst = append(dst, seq...)
		dst = append(dst, d.Escape)
	}
	return dst
}

// Escape returns v escaped for use as one value (a subcomponent) of a
// message with delimiters d.
func Escape(v string, d Delimiters) string { return string(appendEscaped(nil, v, d)) }

// Unescape returns the text of an escaped value of a message with
// delimiters d.
func Unescape(v string, d Delimiters) string { return unescape(v, d) }

func decodeHex(s string) ([]byte, bool) {
	if len(s)%2 != 0 || !hexDigits(s) {
		return nil, false
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		out[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return out, true
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func hexDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func signedDigits(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return digits(s)
}

func latin1(s string) string {
	var b strings.Builder
	writeLatin1(&b, s)
	return b.String()
}

func writeLatin1(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf {
			b.WriteByte(c)
		} else {
			b.WriteRune(rune(c))
		}
	}
}
