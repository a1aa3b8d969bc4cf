package proxy

import "encoding/json"

// A record from a plugin is checked in a single pass over its bytes: the
// scanner below validates the JSON (the grammar encoding/json.Valid
// accepts, with the same nesting limit), finds the top-level members, and
// hands each one's raw key and value to checkRecord, which compares the id
// and applies the field mask on the spans. Nothing is decoded unless a key
// or the id is written with escapes, and a record without a field mask is
// passed through without a copy.

// maxRecordDepth is encoding/json's nesting limit: a deeper record is
// refused, as json.Valid would refuse it.
const maxRecordDepth = 10000

// checkRecord checks a record from a plugin before it is spliced into a
// response, and applies the client's field mask. A plugin is untrusted: it
// must not be able to break the JSON a client parses (the record must be
// exactly one JSON object), nor answer a read with another record than the
// one asked for (wantID, when not empty: every top-level member named "id",
// in any letter case, must be the string wantID, and one must be spelled
// "id"), nor widen a field mask (fields, sorted: only those top-level
// members are kept, in the record's order).
func checkRecord(b []byte, wantID string, fields []string) ([]byte, bool) {
	if len(b) < 2 || b[0] != '{' {
		return nil, false
	}
	var out []byte
	if fields != nil {
		out = make([]byte, 0, len(b))
		out = append(out, '{')
	}
	idSeen := false
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return nil, false
			}
			ks := i
			ke, kesc, ok := scanString(b, i)
			if !ok {
				return nil, false
			}
			i = skipSpace(b, ke)
			if i >= len(b) || b[i] != ':' {
				return nil, false
			}
			vs := skipSpace(b, i+1)
			ve, ok := scanValue(b, vs, 1)
			if !ok {
				return nil, false
			}
			key := memberName(b[ks:ke], kesc)
			if wantID != "" && len(key) == 2 && key[0]|0x20 == 'i' && key[1]|0x20 == 'd' {
				if !stringIs(b[vs:ve], wantID) {
					return nil, false
				}
				idSeen = idSeen || string(key) == "id"
			}
			if fields != nil && sortedHas(fields, key) {
				if len(out) > 1 {
					out = append(out, ',')
				}
				out = append(out, b[ks:ke]...)
				out = append(out, ':')
				out = append(out, b[vs:ve]...)
			}
			i = skipSpace(b, ve)
			if i >= len(b) {
				return nil, false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return nil, false
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return nil, false // data after the object
	}
	if wantID != "" && !idSeen {
		return nil, false
	}
	if fields == nil {
		return b, true
	}
	return append(out, '}'), true
}

// memberName is a member's name, from its raw quoted key: the bytes between
// the quotes, or, when the key has escapes, its decoded text.
func memberName(raw []byte, escaped bool) []byte {
	if !escaped {
		return raw[1 : len(raw)-1]
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return []byte(s)
}

// stringIs reports whether the raw JSON value v is a string equal to want.
func stringIs(v []byte, want string) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			return json.Unmarshal(v, &s) == nil && s == want
		}
	}
	return string(inner) == want
}

// sortedHas reports whether the sorted list has name.
func sortedHas(list []string, name []byte) bool {
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if list[m] < string(name) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(list) && list[lo] == string(name)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString scans the string starting at b[i] (a quote) and returns the
// index after its closing quote and whether it holds an escape.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, false, false
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return 0, false, false
					}
				}
				i += 6
			default:
				return 0, false, false
			}
		case c < 0x20:
			return 0, false, false
		default:
			i++
		}
	}
	return 0, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanValue scans the JSON value starting at b[i] at nesting depth depth
// (of the container holding it) and returns the index after it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		end, _, ok := scanString(b, i)
		return end, ok
	case c == '{':
		if depth+1 > maxRecordDepth {
			return 0, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, false
			}
			end, _, ok := scanString(b, i)
			if !ok {
				return 0, false
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			if i, ok = scanValue(b, skipSpace(b, i+1), depth+1); !ok {
				return 0, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == '}' {
				return i + 1, true
			}
			if b[i] != ',' {
				return 0, false
			}
			i = skipSpace(b, i+1)
		}
	case c == '[':
		if depth+1 > maxRecordDepth {
			return 0, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = scanValue(b, i, depth+1); !ok {
				return 0, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return 0, false
			}
			i = skipSpace(b, i+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || isDigit(c):
		return scanNumber(b, i)
	}
	return 0, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return 0, false
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}
