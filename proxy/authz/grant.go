package authz

import "github.com/ferryhealth/ferry/unified"

// Grant is what a set of scopes allows: a token's, or a client's
// configured smart_scopes.
type Grant struct {
	scopes []Scope
	// text is the scopes that grant anything, space-separated, bounded:
	// what the audit trail records.
	text string
}

// maxGrantText bounds Text.
const maxGrantText = 1024

// NewGrant parses scopes. A scope that names no resource, or that Ferry
// cannot honour exactly, grants nothing: a grant is never wider than its
// scopes say.
func NewGrant(scopes []string) Grant {
	var g Grant
	for _, s := range scopes {
		sc, err := ParseScope(s)
		if err != nil {
			continue
		}
		g.scopes = append(g.scopes, sc)
		if len(g.text)+len(s)+1 <= maxGrantText {
			if g.text != "" {
				g.text += " "
			}
			g.text += s
		}
	}
	return g
}

// Access is how a grant allows one request.
type Access struct {
	// Filters are forced on a search and checked on every record.
	Filters []Filter
	// Compartment says the allowing scope is a patient/ scope: the
	// request is confined to the token's patient.
	Compartment bool
}

// Allow says whether the grant allows op on r, and how. params are the
// search's filters: of several restricted scopes, the one the search
// already agrees with is chosen. Scopes of a wider context win over
// patient/ ones, and unrestricted ones over restricted ones.
func (g Grant) Allow(r unified.ResourceType, op Op, params map[string]string) (Access, bool) {
	best := -1
	rank := func(sc Scope) int {
		n := 0
		if len(sc.Filters) == 0 {
			n += 2
		}
		if sc.Context != ContextPatient {
			n++
		}
		return n
	}
	for i, sc := range g.scopes {
		if sc.Ops&op == 0 || (sc.Resource != "" && sc.Resource != r) || !agrees(sc.Filters, params) {
			continue
		}
		if best < 0 || rank(sc) > rank(g.scopes[best]) {
			best = i
		}
	}
	if best < 0 {
		return Access{}, false
	}
	sc := g.scopes[best]
	return Access{Filters: sc.Filters, Compartment: sc.Context == ContextPatient}, true
}

// agrees reports whether a search's filters leave room for a scope's
// restriction: each restricted filter absent (it will be forced) or equal.
func agrees(fs []Filter, params map[string]string) bool {
	for _, f := range fs {
		if v, ok := params[f.Name]; ok && v != f.Value {
			return false
		}
	}
	return true
}

// Passthrough reports whether the grant reaches everything of a source
// unrestricted, as a raw request does: a system/ or user/ scope on every
// resource, reading and searching, with no restriction.
func (g Grant) Passthrough() bool {
	for _, sc := range g.scopes {
		if sc.Context != ContextPatient && sc.Resource == "" && sc.Ops&(OpRead|OpSearch) == OpRead|OpSearch && len(sc.Filters) == 0 {
			return true
		}
	}
	return false
}

// Empty reports whether the grant allows nothing at all.
func (g Grant) Empty() bool { return len(g.scopes) == 0 }

// HasPatientScopes reports whether any scope is a patient/ one.
func (g Grant) HasPatientScopes() bool {
	for _, sc := range g.scopes {
		if sc.Context == ContextPatient {
			return true
		}
	}
	return false
}

// Text is the scopes that grant anything, space-separated (at most 1 KiB).
func (g Grant) Text() string { return g.text }
