package hl7v2

import (
	"strings"
	"time"
)

// dtm is an HL7 DTM (the first component of a TS):
// YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ], as precise as written.
type dtm struct {
	year, month, day, hour, min, sec int
	frac                             string // the digits after the point, if any
	prec                             int    // digits of date and time given: 4, 6, 8, 10, 12 or 14
	zone                             string // "+hh:mm" or "-hh:mm"; "" when absent
}

// parseDTM parses an HL7 DTM; ok is false for anything that is not one, or
// names an impossible date or time.
func parseDTM(s string) (t dtm, ok bool) {
	body, zone := s, ""
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		body, zone = s[:i], s[i:]
	}
	digitsPart, frac, hasFrac := strings.Cut(body, ".")
	n := len(digitsPart)
	if n != 4 && n != 6 && n != 8 && n != 10 && n != 12 && n != 14 || !digits(digitsPart) {
		return dtm{}, false
	}
	if hasFrac && (n != 14 || frac == "" || len(frac) > 4 || !digits(frac)) {
		return dtm{}, false
	}
	num := func(i, j int) int {
		v := 0
		for _, c := range digitsPart[i:j] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	t = dtm{year: num(0, 4), month: 1, day: 1, prec: n, frac: frac}
	if n >= 6 {
		t.month = num(4, 6)
	}
	if n >= 8 {
		t.day = num(6, 8)
	}
	if n >= 10 {
		t.hour = num(8, 10)
	}
	if n >= 12 {
		t.min = num(10, 12)
	}
	if n >= 14 {
		t.sec = num(12, 14)
	}
	if t.month < 1 || t.month > 12 || t.hour > 23 || t.min > 59 || t.sec > 59 {
		return dtm{}, false
	}
	if d := time.Date(t.year, time.Month(t.month), t.day, 0, 0, 0, 0, time.UTC); d.Day() != t.day {
		return dtm{}, false
	}
	if zone != "" {
		z := zone[1:]
		if len(z) != 4 || !digits(z) || z[:2] > "14" || z[2:] > "59" {
			return dtm{}, false
		}
		t.zone = zone[:1] + z[:2] + ":" + z[2:]
	}
	return t, true
}

// date returns the date part as precise as written: YYYY, YYYY-MM or
// YYYY-MM-DD.
func (t dtm) date() string {
	b := make([]byte, 0, 10)
	b = appendInt(b, t.year, 4)
	if t.prec >= 6 {
		b = append(b, '-')
		b = appendInt(b, t.month, 2)
	}
	if t.prec >= 8 {
		b = append(b, '-')
		b = appendInt(b, t.day, 2)
	}
	return string(b)
}

// dateTime returns an RFC 3339 date-time when the DTM gives at least the
// minute and a UTC offset, and the date otherwise: a time without an offset
// cannot be placed on the timeline, and an hour alone is not a time.
// Seconds are written as 00 when only the minute is given, as RFC 3339
// requires them.
func (t dtm) dateTime() string {
	if t.prec < 12 || t.zone == "" {
		return t.date()
	}
	b := []byte(t.date())
	b = append(b, 'T')
	b = appendInt(b, t.hour, 2)
	b = append(b, ':')
	b = appendInt(b, t.min, 2)
	b = append(b, ':')
	b = appendInt(b, t.sec, 2)
	if t.frac != "" {
		b = append(b, '.')
		b = append(b, t.frac...)
	}
	b = append(b, t.zone...)
	return string(b)
}

func appendInt(b []byte, v, width int) []byte {
	var tmp [8]byte
	i := len(tmp)
	for v > 0 || i == len(tmp) {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// dtmDate turns a unified date (YYYY, YYYY-MM, YYYY-MM-DD, or an RFC 3339
// date-time, of which the date is kept) into an HL7 DTM of the same
// precision. ok is false for anything else.
func dtmDate(v string) (string, bool) {
	if len(v) > 10 {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return "", false
		}
		return t.Format("20060102"), true
	}
	var layout, out string
	switch len(v) {
	case 4:
		layout, out = "2006", "2006"
	case 7:
		layout, out = "2006-01", "200601"
	case 10:
		layout, out = time.DateOnly, "20060102"
	default:
		return "", false
	}
	t, err := time.Parse(layout, v)
	if err != nil {
		return "", false
	}
	return t.Format(out), true
}
