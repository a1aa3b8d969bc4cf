package auditlog

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e to dst as one compact JSON object, without a
// trailing newline, and returns the extended slice.
//
// It is the canonical encoding of an Event: keys in the order of Fields,
// omitted keys as documented on Event, time in RFC 3339 with nanoseconds in
// UTC, strings escaped exactly as encoding/json escapes them (including its
// HTML-safe escaping of <, > and &, and U+FFFD for invalid UTF-8). A test
// and a fuzz target hold it byte-for-byte equal to json.Marshal of the same
// Event. It is written by hand because it is several times faster than
// encoding/json and does not allocate when dst has room (see
// BenchmarkEncode), and because the hash chain needs an encoding that is
// stable byte for byte.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = appendKey(dst, FieldTime)
	dst = append(dst, '"')
	dst = e.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')

	dst = appendStringField(dst, FieldRequestID, e.RequestID)
	dst = appendOptStringField(dst, FieldTraceID, e.TraceID)
	dst = appendOptStringField(dst, FieldTenant, e.Tenant)
	dst = appendOptStringField(dst, FieldActor, e.Actor)
	dst = appendOptStringField(dst, FieldTokenIssuer, e.TokenIssuer)
	dst = appendOptStringField(dst, FieldTokenSubject, e.TokenSubject)
	dst = appendOptStringField(dst, FieldScopes, e.Scopes)
	dst = appendStringField(dst, FieldSourceIP, e.SourceIP)
	dst = appendOptStringField(dst, FieldPurposeOfUse, e.PurposeOfUse)
	dst = appendOptTrue(dst, FieldBreakGlass, e.BreakGlass)
	dst = appendOptTrue(dst, FieldSecurityAlert, e.SecurityAlert)
	dst = appendStringField(dst, FieldAction, e.Action)
	dst = appendOptStringField(dst, FieldResourceType, e.ResourceType)
	dst = appendStringField(dst, FieldRoute, e.Route)
	dst = appendOptStringField(dst, FieldConnection, e.Connection)
	dst = appendOptStringField(dst, FieldConnector, e.Connector)
	dst = appendStringField(dst, FieldRegion, e.Region)

	dst = append(dst, ',')
	dst = appendKey(dst, FieldStatus)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)

	dst = appendOptStringField(dst, FieldErrorCode, e.ErrorCode)
	dst = appendOptStringField(dst, FieldAuthzRefusal, e.AuthzRefusal)

	dst = append(dst, ',')
	dst = appendKey(dst, FieldRecordCount)
	dst = strconv.AppendInt(dst, int64(e.RecordCount), 10)

	dst = append(dst, ',')
	dst = appendKey(dst, FieldLatencyProxyUS)
	dst = strconv.AppendInt(dst, e.LatencyProxyMicros, 10)

	if e.LatencyUpstreamMicros != 0 {
		dst = append(dst, ',')
		dst = appendKey(dst, FieldLatencyUpstreamUS)
		dst = strconv.AppendInt(dst, e.LatencyUpstreamMicros, 10)
	}

	dst = appendOptStringField(dst, FieldPatientRef, e.PatientRef)
	dst = appendOptStringField(dst, FieldRecordRef, e.RecordRef)
	dst = appendStringField(dst, FieldConfigHash, e.ConfigHash)
	dst = appendStringField(dst, FieldChainID, e.ChainID)

	dst = append(dst, ',')
	dst = appendKey(dst, FieldSeq)
	dst = strconv.AppendUint(dst, e.Seq, 10)

	dst = appendStringField(dst, FieldPrevHash, e.PrevHash)
	dst = appendOptStringField(dst, FieldSig, e.Sig)
	return append(dst, '}')
}

// appendOptTrue appends `,"name":true` when v is set, as omitempty does.
func appendOptTrue(dst []byte, name string, v bool) []byte {
	if !v {
		return dst
	}
	dst = append(dst, ',')
	dst = appendKey(dst, name)
	return append(dst, "true"...)
}

// appendKey appends `"name":`. Field names are plain ASCII identifiers, so
// they need no escaping.
func appendKey(dst []byte, name string) []byte {
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// appendStringField appends `,"name":"value"`; every field but the first
// (time, always present) is preceded by a comma.
func appendStringField(dst []byte, name, value string) []byte {
	dst = append(dst, ',')
	dst = appendKey(dst, name)
	return appendString(dst, value)
}

// appendOptStringField is appendStringField for an omitempty field.
func appendOptStringField(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	return appendStringField(dst, name, value)
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the ASCII bytes a JSON string can hold unescaped under
// encoding/json's rules. A table lookup is measurably faster than the chain
// of comparisons it replaces, and appendString is most of the encoding time.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendString appends s as a JSON string with encoding/json's escaping, so
// the two encoders agree byte for byte. The output never contains a raw
// control character, so a value can never break the one-event-per-line
// framing.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safeASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				// Other control characters and the HTML-sensitive <, > and &.
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end a line in JavaScript;
		// encoding/json escapes them, so we do too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
