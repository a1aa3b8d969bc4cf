package sandbox

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// query is a parsed search.
type query struct {
	clauses []clause
	// include lists the paths of the references whose resources are added
	// to each page (_include).
	include []string
	count   int
	offset  int
	// byUpdated orders the matches by meta.lastUpdated, oldest first
	// (_sort=_lastUpdated, the only order the sandbox offers).
	byUpdated bool
	// link is the query as given, without _count and _offset, for the
	// self and next links.
	link []string
}

// parseQuery parses a search's query string. A parameter the type does not
// have is refused, as a strict server does (handling=strict), so that a
// client never mistakes an ignored filter for an applied one. It returns a
// problem to report, or "".
func parseQuery(rt *resourceType, rawQuery string) (*query, string) {
	q := &query{count: defaultCount}
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		if strings.Contains(part, ";") {
			return nil, "The query string is malformed."
		}
		k, v, _ := strings.Cut(part, "=")
		name, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, "The query string is malformed."
		}
		switch name {
		case "_count", "_offset":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, name + " must be a non-negative integer."
			}
			if name == "_count" {
				q.count = min(n, maxCount)
			} else {
				q.offset = n
			}
			continue
		case "_sort":
			if v != "_lastUpdated" {
				return nil, "The sandbox sorts by _lastUpdated only."
			}
			q.byUpdated = true
		case "_include":
			path, ok := rt.includes[v]
			if !ok {
				return nil, "The sandbox supports no such _include."
			}
			if !slices.Contains(q.include, path) {
				q.include = append(q.include, path)
			}
		default:
			p, ok := rt.lookup(name)
			if !ok {
				return nil, "Unknown search parameter. Supported: " + strings.Join(rt.paramNames(), ", ") + ", and _count, _offset" + includeNote(rt) + "; no modifiers."
			}
			if v == "" {
				// An empty value filters nothing, as most servers treat it.
				continue
			}
			c := clause{name: name, typ: p.typ}
			for _, alt := range splitEscaped(v, ',') {
				crit, problem := parseCriterion(name, p, alt)
				if problem != "" {
					return nil, problem
				}
				c.alts = append(c.alts, crit)
			}
			q.clauses = append(q.clauses, c)
		}
		q.link = append(q.link, url.QueryEscape(name)+"="+url.QueryEscape(v))
	}
	return q, ""
}

func includeNote(rt *resourceType) string {
	var inc []string
	for v := range rt.includes {
		inc = append(inc, "_include="+v)
	}
	slices.Sort(inc)
	if len(inc) == 0 {
		return ""
	}
	return ", " + strings.Join(inc, ", ")
}

// matches reports whether a resource meets every clause.
func (q *query) matches(r *resource) bool {
	for i := range q.clauses {
		if !q.clauses[i].matches(r.values[q.clauses[i].name]) {
			return false
		}
	}
	return true
}

// lastUpdated is a resource's meta.lastUpdated, or the zero time.
func lastUpdated(r *resource) time.Time {
	if v := r.values["_lastUpdated"]; len(v) > 0 {
		return v[0].lo
	}
	return time.Time{}
}

// linkQuery is the query string of a self or next link: the search as
// given, then the page, so links are stable.
func (q *query) linkQuery(offset int) string {
	var b strings.Builder
	for _, kv := range q.link {
		b.WriteString(kv)
		b.WriteByte('&')
	}
	b.WriteString("_count=")
	b.WriteString(strconv.Itoa(q.count))
	if offset > 0 {
		b.WriteString("&_offset=")
		b.WriteString(strconv.Itoa(offset))
	}
	return b.String()
}
