package sandbox

import (
	"strings"
	"time"
)

// How a search matches: a parameter's values extracted from a resource,
// and the query's criteria compared with them.

// value is one indexed value of a resource for a search parameter.
type value struct {
	system string    // token: the system, "" when there is none
	text   string    // token: the code or identifier value; string: folded; reference: "Type/id"
	lo, hi time.Time // date: the range [lo, hi) it covers
}

// walk returns the elements at path below node. resolve, when not nil,
// returns the resource a reference names.
func walk(node any, path []string, resolve func(ref string) any, out []any) []any {
	if arr, ok := node.([]any); ok {
		for _, n := range arr {
			out = walk(n, path, resolve, out)
		}
		return out
	}
	if node == nil {
		return out
	}
	if len(path) == 0 {
		return append(out, node)
	}
	m, ok := node.(map[string]any)
	if !ok {
		return out
	}
	if path[0] == "resolve()" {
		ref, _ := m["reference"].(string)
		if resolve == nil || ref == "" {
			return out
		}
		return walk(resolve(ref), path[1:], resolve, out)
	}
	return walk(m[path[0]], path[1:], resolve, out)
}

// extract indexes a resource's values for p.
func (p param) extract(tree map[string]any, resolve func(string) any) []value {
	var out []value
	for _, path := range p.paths {
		for _, n := range walk(tree, strings.Split(path, "."), resolve, nil) {
			out = p.typ.values(n, out)
		}
	}
	return out
}

// values appends the values one element holds for a parameter of type t.
// Elements of a shape the type does not read are skipped.
func (t paramType) values(n any, out []value) []value {
	switch t {
	case tokenParam:
		switch n := n.(type) {
		case string:
			out = append(out, value{text: n})
		case bool:
			if n {
				out = append(out, value{text: "true"})
			} else {
				out = append(out, value{text: "false"})
			}
		case map[string]any:
			if codings, ok := n["coding"].([]any); ok { // CodeableConcept
				for _, c := range codings {
					out = t.values(c, out)
				}
				return out
			}
			system, _ := n["system"].(string)
			if v, ok := n["value"].(string); ok { // Identifier
				out = append(out, value{system: system, text: v})
			} else if c, ok := n["code"].(string); ok { // Coding
				out = append(out, value{system: system, text: c})
			}
		}
	case dateParam:
		switch n := n.(type) {
		case string:
			if lo, hi, ok := parseDate(n); ok {
				out = append(out, value{lo: lo, hi: hi})
			}
		case map[string]any: // Period: an absent end is ongoing
			v := value{lo: minTime, hi: maxTime}
			start, _ := n["start"].(string)
			end, _ := n["end"].(string)
			if start == "" && end == "" {
				return out
			}
			if lo, _, ok := parseDate(start); ok {
				v.lo = lo
			}
			if _, hi, ok := parseDate(end); ok {
				v.hi = hi
			}
			out = append(out, v)
		}
	case stringParam:
		switch n := n.(type) {
		case string:
			out = append(out, value{text: fold(n)})
		case map[string]any: // HumanName: each part is searched
			for _, k := range []string{"family", "given", "prefix", "suffix", "text"} {
				for _, s := range walk(n[k], nil, nil, nil) {
					if s, ok := s.(string); ok {
						out = append(out, value{text: fold(s)})
					}
				}
			}
		}
	case referenceParam:
		if m, ok := n.(map[string]any); ok {
			if ref, ok := m["reference"].(string); ok && ref != "" {
				out = append(out, value{text: ref})
			}
		}
	}
	return out
}

// criterion is one alternative of a search parameter in a query.
type criterion struct {
	prefix    string // date: eq, gt, lt, ge or le
	anySystem bool   // token: the query gave no system part
	system    string // token
	text      string // token: the code ("" with a system: any code); string: folded prefix; reference: "Type/id"
	lo, hi    time.Time
}

// clause is one occurrence of a search parameter: it matches when any of
// its alternatives (the comma-separated values) matches any value.
type clause struct {
	name string
	typ  paramType
	alts []criterion
}

func (c *clause) matches(vals []value) bool {
	for i := range c.alts {
		for j := range vals {
			if c.alts[i].matches(c.typ, &vals[j]) {
				return true
			}
		}
	}
	return false
}

func (c *criterion) matches(t paramType, v *value) bool {
	switch t {
	case tokenParam:
		return (c.anySystem || c.system == v.system) && (c.text == "" || c.text == v.text)
	case stringParam:
		return strings.HasPrefix(v.text, c.text)
	case referenceParam:
		return v.text == c.text
	case dateParam:
		// FHIR compares ranges: the query value and the resource value
		// each cover a range set by their precision (a day, a second, a
		// Period). eq: the query's range contains the value's; gt: the
		// value reaches past the query's range; lt: it starts before it.
		eq := !v.lo.Before(c.lo) && !v.hi.After(c.hi)
		switch c.prefix {
		case "eq":
			return eq
		case "gt":
			return v.hi.After(c.hi)
		case "lt":
			return v.lo.Before(c.lo)
		case "ge":
			return eq || v.hi.After(c.hi)
		case "le":
			return eq || v.lo.Before(c.lo)
		}
	}
	return false
}

// parseCriterion parses one alternative of a parameter's value, with its
// backslash escapes. It returns a problem to report, or "".
func parseCriterion(name string, p param, alt string) (criterion, string) {
	switch p.typ {
	case tokenParam:
		switch parts := splitEscaped(alt, '|'); len(parts) {
		case 1:
			if c := unescape(parts[0]); c != "" {
				return criterion{anySystem: true, text: c}, ""
			}
		case 2:
			sys, code := unescape(parts[0]), unescape(parts[1])
			if sys != "" || code != "" {
				return criterion{system: sys, text: code}, ""
			}
		}
		return criterion{}, name + " must be code, system|code, |code or system|."
	case stringParam:
		return criterion{text: fold(unescape(alt))}, ""
	case referenceParam:
		ref := unescape(alt)
		// An absolute reference names the type and id in its last two
		// segments; the sandbox takes it whatever the server part.
		if strings.Contains(ref, "://") {
			if i := strings.LastIndexByte(ref, '/'); i > 0 {
				if j := strings.LastIndexByte(ref[:i], '/'); j >= 0 {
					ref = ref[j+1:]
				}
			}
		}
		typ, id, found := strings.Cut(ref, "/")
		if !found {
			typ, id = p.target, ref
		}
		if typ != p.target || !validID(id) {
			return criterion{}, name + " must be a " + p.target + " id or reference."
		}
		return criterion{text: typ + "/" + id}, ""
	case dateParam:
		prefix := "eq"
		if len(alt) >= 2 && alt[0] >= 'a' && alt[0] <= 'z' {
			prefix, alt = alt[:2], alt[2:]
		}
		switch prefix {
		case "eq", "gt", "lt", "ge", "le":
		default:
			return criterion{}, name + " takes the prefixes eq, gt, lt, ge and le only."
		}
		lo, hi, ok := parseDate(alt)
		if !ok {
			return criterion{}, name + " must be a date (YYYY, YYYY-MM, YYYY-MM-DD) or date-time (YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm]), optionally after a prefix."
		}
		return criterion{prefix: prefix, lo: lo, hi: hi}, ""
	}
	return criterion{}, name + " is not supported."
}

// validID reports whether s is a FHIR id.
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// minTime and maxTime stand for the open ends of a Period.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// parseDate parses a FHIR date, dateTime or instant, and returns the range
// [lo, hi) its precision covers: a year, a month, a day, a minute, a second
// or a fraction of one. A time without a zone is in UTC, the sandbox's own
// zone (FHIR leaves it to the server).
func parseDate(s string) (lo, hi time.Time, ok bool) {
	datePart, clock, hasClock := strings.Cut(s, "T")
	if !validPartialDate(datePart) {
		return lo, hi, false
	}
	if !hasClock {
		layout := map[int]string{4: "2006", 7: "2006-01", 10: time.DateOnly}[len(datePart)]
		t, err := time.Parse(layout, datePart)
		if err != nil {
			return lo, hi, false
		}
		switch len(datePart) {
		case 4:
			return t, t.AddDate(1, 0, 0), true
		case 7:
			return t, t.AddDate(0, 1, 0), true
		}
		return t, t.AddDate(0, 0, 1), true
	}
	if len(datePart) != 10 {
		return lo, hi, false
	}
	zone := "Z"
	switch {
	case strings.HasSuffix(clock, "Z"):
		clock = clock[:len(clock)-1]
	case len(clock) > 6 && (clock[len(clock)-6] == '+' || clock[len(clock)-6] == '-'):
		clock, zone = clock[:len(clock)-6], clock[len(clock)-6:]
	}
	var step time.Duration
	switch {
	case len(clock) == 5: // hh:mm
		clock += ":00"
		step = time.Minute
	case len(clock) == 8: // hh:mm:ss
		step = time.Second
	case len(clock) > 9 && len(clock) <= 18 && clock[8] == '.':
		step = time.Second
		for range len(clock) - 9 {
			step /= 10
		}
	default:
		return lo, hi, false
	}
	t, err := time.Parse(time.RFC3339Nano, datePart+"T"+clock+zone)
	if err != nil {
		return lo, hi, false
	}
	return t, t.Add(step), true
}
