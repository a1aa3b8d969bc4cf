package mapping

import (
	"math"
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// ucum maps the units clinical sources commonly write, lower-cased, to their
// UCUM codes (which are case-sensitive). It is deliberately small: a unit
// not listed keeps the source's text, with no system, rather than a guess.
var ucum = map[string]string{}

// ucumAliases lists, per UCUM code, the spellings sources use, lower-cased.
var ucumAliases = map[string][]string{
	"mm[Hg]":  {"mmhg", "mm hg", "mm[hg]"},
	"/min":    {"bpm", "beats/min", "breaths/min", "/min", "1/min", "per min", "beats per minute"},
	"kg":      {"kg", "kgs", "kilogram", "kilograms"},
	"g":       {"g", "gram", "grams"},
	"mg":      {"mg"},
	"ug":      {"ug", "mcg", "µg"},
	"[lb_av]": {"lb", "lbs", "[lb_av]", "pound", "pounds"},
	"[oz_av]": {"oz", "[oz_av]"},
	"cm":      {"cm"},
	"mm":      {"mm"},
	"m":       {"m", "meter", "metre"},
	"[in_i]":  {"in", "inch", "inches", "[in_i]"},
	"Cel":     {"cel", "c", "°c", "degc", "deg c"},
	"[degF]":  {"[degf]", "f", "°f", "degf", "deg f"},
	"%":       {"%", "percent"},
	"kg/m2":   {"kg/m2", "kg/m^2", "kg/m²"},
	"mg/dL":   {"mg/dl"},
	"g/dL":    {"g/dl"},
	"mmol/L":  {"mmol/l"},
	"umol/L":  {"umol/l", "µmol/l"},
	"meq/L":   {"meq/l"},
	"U/L":     {"u/l", "iu/l"},
	"ng/mL":   {"ng/ml"},
	"pg":      {"pg"},
	"fL":      {"fl"},
	"mL":      {"ml"},
	"L":       {"l"},
	"10*3/uL": {"10*3/ul", "10^3/ul", "x10^3/ul", "k/ul", "thou/ul"},
	"10*6/uL": {"10*6/ul", "10^6/ul", "x10^6/ul", "m/ul", "mill/ul"},
	"s":       {"s", "sec", "second", "seconds"},
	"min":     {"min", "minute", "minutes"},
	"h":       {"h", "hr", "hour", "hours"},
	"d":       {"d", "day", "days"},
	"wk":      {"wk", "week", "weeks"},
	"mo":      {"mo", "month", "months"},
	"a":       {"a", "yr", "year", "years"},
}

func init() {
	for code, aliases := range ucumAliases {
		for _, a := range aliases {
			if prev, dup := ucum[a]; dup {
				// Either code could win, depending on map order.
				panic("mapping: unit alias " + a + " listed under " + prev + " and " + code)
			}
			ucum[a] = code
		}
	}
}

// UCUM returns the UCUM code of a unit as sources commonly write it
// ("mmHg" → "mm[Hg]", "bpm" → "/min", "mg/dl" → "mg/dL"), compared
// case-insensitively. ok is false for a unit it does not know.
func UCUM(unit string) (string, bool) {
	code, ok := ucum[strings.ToLower(strings.TrimSpace(unit))]
	return code, ok
}

// Quantity maps a value and unit as a source writes them to a unified
// quantity. The value is a decimal with an optional comparator ("72",
// "-1.5", "<5", ">=10"); the unit keeps the source's text in Unit and, when
// UCUM knows it, gets System UCUM and the UCUM Code. ok is false when the
// value is not a plain decimal (no exponents, no NaN or infinity) and there
// is no unit either; a unit alone gives a quantity without a value.
func Quantity(value, unit string) (*unified.Quantity, bool) {
	q := &unified.Quantity{Unit: strings.TrimSpace(unit)}
	if code, ok := UCUM(unit); ok {
		q.System, q.Code = unified.SystemUCUM, code
	}
	v := strings.TrimSpace(value)
	for _, c := range []string{"<=", ">=", "<", ">"} {
		if rest, ok := strings.CutPrefix(v, c); ok {
			q.Comparator, v = c, strings.TrimSpace(rest)
			break
		}
	}
	if v == "" {
		if q.Comparator != "" || q.Unit == "" {
			return nil, false
		}
		return q, true
	}
	f, ok := decimal(v)
	if !ok {
		return nil, false
	}
	q.Value = &f
	return q, true
}

// decimal parses [+-]digits[.digits], the form HL7 v2 NM and FHIR decimal
// share; strconv alone would also take "1e5", "0x10", "Inf" and "NaN".
func decimal(s string) (float64, bool) {
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || body == "" || len(body) > 64 {
		return 0, false
	}
	dot := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return 0, false
		}
	}
	if body == "." {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}
