package connectors

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// Validate checks a manifest against the rules the host and the conformance
// kit apply, and returns every problem at once (joined), each naming the
// resource and parameter at fault. The host refuses to start a plugin whose
// manifest fails it.
//
// The rules: a kind of 1–32 of [a-z0-9-] starting with a letter; a version;
// at least one resource; each resource known to package unified, listed
// once, offering Read or Search; search parameters only on a searchable
// resource, each a lower-case name ([a-z][a-z0-9_]*, at most 64 bytes),
// listed once, not one of unified.ReservedParams, and not a range suffix
// (_gte, _gt, _lte, _lt) unless it is a standard filter, since range
// grammar belongs to the standard filters the host checks; required
// parameters a subset of the search parameters; create and update only on a
// readable resource the unified API writes (unified.Writable).
func (m *MetadataResponse) Validate() error {
	if m == nil {
		return errors.New("manifest: missing")
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !validKind(m.Kind) {
		bad("kind %q: want 1-32 of [a-z0-9-], starting with a letter", m.Kind)
	}
	if m.Version == "" || len(m.Version) > 64 || strings.ContainsFunc(m.Version, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		bad("version %q: want 1-64 printable characters without spaces", m.Version)
	}
	if len(m.Resources) == 0 {
		bad("resources: none listed; a connector offers at least one")
	}
	seen := map[unified.ResourceType]bool{}
	for _, r := range m.Resources {
		name := string(r.Resource)
		switch {
		case !r.Resource.Known():
			bad("resource %q: not a unified resource (known: %s)", name, knownResources())
			continue
		case seen[r.Resource]:
			bad("resource %s: listed twice", name)
			continue
		}
		seen[r.Resource] = true
		if !r.Read && !r.Search {
			bad("resource %s: offers neither read nor search", name)
		}
		if r.Create || r.Update {
			// A write answers with the record as read back, and a PATCH
			// needs the version a read showed.
			if _, ok := unified.Writable(r.Resource); !ok {
				bad("resource %s: written, but the unified API does not write it (writable: %s)", name, writableResources())
			} else if !r.Read {
				bad("resource %s: written, but not readable", name)
			}
		}
		if !r.Search && (len(r.SearchParams) > 0 || len(r.RequiredParams) > 0) {
			bad("resource %s: search parameters declared, but search is not offered", name)
		}
		params := map[string]bool{}
		for _, p := range r.SearchParams {
			switch {
			case !validParamName(p):
				bad("resource %s: search parameter %q: want [a-z][a-z0-9_]*, at most 64 bytes", name, p)
			case params[p]:
				bad("resource %s: search parameter %s listed twice", name, p)
			case isReserved(p):
				bad("resource %s: search parameter %s is reserved (%s are handled by the host)", name, p, strings.Join(unified.ReservedParams, ", "))
			case looksStandard(p):
				bad("resource %s: search parameter %s looks like a range filter but is not a standard one; use %s", name, p, standardNames())
			}
			params[p] = true
		}
		required := map[string]bool{}
		for _, p := range r.RequiredParams {
			switch {
			case required[p]:
				bad("resource %s: required parameter %s listed twice", name, p)
			case !params[p]:
				bad("resource %s: required parameter %q is not among its search parameters", name, p)
			}
			required[p] = true
		}
	}
	return errors.Join(errs...)
}

func writableResources() string {
	var names []string
	for _, r := range unified.WritableResources() {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

func validKind(k string) bool {
	if k == "" || len(k) > 32 || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validParamName(p string) bool {
	if p == "" || len(p) > 64 || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func isReserved(p string) bool {
	for _, r := range unified.ReservedParams {
		if p == r {
			return true
		}
	}
	return false
}

// looksStandard reports a connector filter named like a range filter: its
// values would reach the connector unchecked, under a name that promises the
// standard grammar.
func looksStandard(p string) bool {
	if _, ok := unified.StandardFilter(p); ok {
		return false
	}
	for _, s := range []string{"_gte", "_gt", "_lte", "_lt"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

func knownResources() string {
	var b strings.Builder
	for i, r := range unified.ResourceTypes() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(r))
	}
	return b.String()
}

func standardNames() string {
	var names []string
	for _, f := range unified.StandardFilters() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}
