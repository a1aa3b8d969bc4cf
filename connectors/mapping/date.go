package mapping

import (
	"strings"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// Unified dates and date-times are strings exactly as precise as the source
// wrote them: "2024", "2024-03", "2024-03-07", or an RFC 3339 date-time with
// its offset. A year never becomes a midnight timestamp.

// Date returns s as a unified date (YYYY, YYYY-MM or YYYY-MM-DD), from a
// unified date, an RFC 3339 date-time (its date part, as the source wrote
// it), or an HL7 v2 DT/DTM (YYYY[MM[DD[HHMM…]]]; its date part). ok is false
// for anything else, including impossible dates (2023-02-30).
func Date(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if d, ok := unifiedDate(s); ok {
		return d, true
	}
	if t, ok := parseRFC3339(s); ok {
		return t.date, true
	}
	if h, ok := parseHL7(s); ok {
		return h.date(), true
	}
	return "", false
}

// DateTime returns s as a unified date or date-time, keeping the source's
// precision: a unified date or RFC 3339 date-time as it is; an HL7 v2 DTM
// (YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]) as a date when it has no
// time, else as an RFC 3339 date-time with minutes and seconds zero-filled
// (RFC 3339 has no coarser form); a local ISO date-time
// ("2024-03-07T10:15:00") likewise. A time without an offset is read in
// zone, the source's time zone (from the connection's settings); with a nil
// zone it is cut to its date rather than given an offset nobody stated.
func DateTime(s string, zone *time.Location) (string, bool) {
	s = strings.TrimSpace(s)
	if d, ok := unifiedDate(s); ok {
		return d, true
	}
	if t, ok := parseRFC3339(s); ok {
		return t.raw, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		if zone == nil {
			return t.Format(time.DateOnly), true
		}
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, zone).Format(time.RFC3339), true
	}
	h, ok := parseHL7(s)
	if !ok {
		return "", false
	}
	if h.hour < 0 {
		return h.date(), true
	}
	loc := zone
	if h.hasOffset {
		loc = time.FixedZone("", h.offset)
	}
	if loc == nil {
		return h.date(), true
	}
	t := time.Date(h.year, time.Month(h.month), h.day, h.hour, max(h.minute, 0), max(h.second, 0), h.nanos, loc)
	if h.nanos > 0 {
		return t.Format(time.RFC3339Nano), true
	}
	return t.Format(time.RFC3339), true
}

// unifiedDate accepts YYYY, YYYY-MM and YYYY-MM-DD.
func unifiedDate(s string) (string, bool) {
	switch len(s) {
	case 4, 7, 10:
		if unified.ValidDate(s) {
			return s, true
		}
	}
	return "", false
}

type rfc3339 struct{ raw, date string }

func parseRFC3339(s string) (rfc3339, bool) {
	if len(s) < 20 || s[10] != 'T' {
		return rfc3339{}, false
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return rfc3339{}, false
	}
	return rfc3339{raw: s, date: s[:10]}, true
}

// hl7Time is a parsed HL7 v2 DT/DTM; absent parts are -1.
type hl7Time struct {
	year, month, day     int
	hour, minute, second int
	nanos                int
	offset               int // seconds east of UTC
	hasOffset            bool
}

func (h hl7Time) date() string {
	t := time.Date(h.year, time.Month(max(h.month, 1)), max(h.day, 1), 0, 0, 0, 0, time.UTC)
	switch {
	case h.month < 0:
		return t.Format("2006")
	case h.day < 0:
		return t.Format("2006-01")
	}
	return t.Format(time.DateOnly)
}

// parseHL7 parses YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ].
func parseHL7(s string) (hl7Time, bool) {
	h := hl7Time{month: -1, day: -1, hour: -1, minute: -1, second: -1}
	body := s
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		body = s[:i]
		z := s[i+1:]
		if len(z) != 4 || !digits(z) {
			return h, false
		}
		hh, mm := atoi(z[:2]), atoi(z[2:])
		if hh > 14 || mm > 59 {
			return h, false
		}
		h.offset = (hh*60 + mm) * 60
		if s[i] == '-' {
			h.offset = -h.offset
		}
		h.hasOffset = true
	}
	frac := ""
	if i := strings.IndexByte(body, '.'); i >= 0 {
		body, frac = body[:i], body[i+1:]
		if len(body) != 14 || frac == "" || len(frac) > 4 || !digits(frac) {
			return h, false
		}
	}
	if !digits(body) {
		return h, false
	}
	switch len(body) {
	case 4, 6, 8, 10, 12, 14:
	default:
		return h, false
	}
	parts := []*int{&h.year, &h.month, &h.day, &h.hour, &h.minute, &h.second}
	*parts[0] = atoi(body[:4])
	for i, p := 1, 4; p < len(body); i, p = i+1, p+2 {
		*parts[i] = atoi(body[p : p+2])
	}
	if frac != "" {
		h.nanos = atoi(frac + strings.Repeat("0", 9-len(frac)))
	}
	if h.hasOffset && h.hour < 0 {
		return h, false // an offset on a date alone is meaningless
	}
	// Range checks, through the calendar: 2023-02-30 does not round-trip.
	m, d := max(h.month, 1), max(h.day, 1)
	t := time.Date(h.year, time.Month(m), d, max(h.hour, 0), max(h.minute, 0), max(h.second, 0), 0, time.UTC)
	if h.year < 1 || m > 12 || t.Month() != time.Month(m) || t.Day() != d || h.hour > 23 || h.minute > 59 || h.second > 59 {
		return h, false
	}
	return h, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
