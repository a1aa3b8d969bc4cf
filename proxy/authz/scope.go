package authz

import (
	"errors"
	"net/url"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// Op is an operation on a resource, as SMART v2 spells them: c r u d s.
type Op uint8

// The operations. Create and Update are parsed now so that writes plug in
// when the unified API has them.
const (
	OpCreate Op = 1 << iota
	OpRead
	OpUpdate
	OpDelete
	OpSearch
)

// OpNames are the operation names a policy lists.
var OpNames = map[string]Op{"create": OpCreate, "read": OpRead, "update": OpUpdate, "delete": OpDelete, "search": OpSearch}

// Context is whose data a scope reaches: one patient's, what a user may
// see, or a system's.
type Context uint8

// The SMART scope contexts.
const (
	ContextPatient Context = iota + 1
	ContextUser
	ContextSystem
)

// Filter is a unified search filter a scope restricts a resource to.
type Filter struct{ Name, Value string }

// Scope is one SMART resource scope, mapped onto the unified API.
type Scope struct {
	Context Context
	// Resource is the unified resource; "" for every resource (*).
	Resource unified.ResourceType
	Ops      Op
	// Filters restrict the scope to records matching all of them.
	Filters []Filter
}

// ErrNotResourceScope is a scope that names no resource (openid,
// launch/patient, fhirUser, offline_access…): it grants nothing here.
var ErrNotResourceScope = errors.New("not a resource scope (patient/, user/ or system/)")

// errBadScope is a resource scope Ferry cannot honour exactly: an unknown
// FHIR type, operations out of order, a restriction on a parameter the
// unified API has not. It grants nothing rather than more than it says.
var errBadScope = errors.New("not a scope Ferry can honour exactly: a FHIR type of docs/authorization.md, permissions in c r u d s order, restricted only by category, code or status")

// maxScopeLen bounds one scope.
const maxScopeLen = 512

// ParseScope reads a SMART v2 scope ("system/Observation.rs?category=
// vital-signs") or a v1 one ("patient/*.read").
func ParseScope(s string) (Scope, error) {
	if len(s) > maxScopeLen {
		return Scope{}, errBadScope
	}
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Scope{}, ErrNotResourceScope
	}
	var sc Scope
	switch ctx {
	case "patient":
		sc.Context = ContextPatient
	case "user":
		sc.Context = ContextUser
	case "system":
		sc.Context = ContextSystem
	default:
		return Scope{}, ErrNotResourceScope
	}
	rest, query, _ := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, errBadScope
	}
	if typ != "*" {
		r, ok := UnifiedResource(typ)
		if !ok {
			return Scope{}, errBadScope
		}
		sc.Resource = r
	}
	if sc.Ops = parseOps(perms); sc.Ops == 0 {
		return Scope{}, errBadScope
	}
	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return Scope{}, errBadScope
		}
		for name, vs := range vals {
			f, ok := restrictions[name]
			if !ok || len(vs) != 1 {
				return Scope{}, errBadScope
			}
			v, ok := unified.NormalizeFilter(unified.FilterToken, vs[0])
			if !ok {
				return Scope{}, errBadScope
			}
			sc.Filters = append(sc.Filters, Filter{Name: f, Value: v})
		}
	}
	return sc, nil
}

// restrictions are the FHIR search parameters a scope may restrict by,
// and the unified filter each becomes.
var restrictions = map[string]string{
	"category": unified.FilterCategory,
	"code":     unified.FilterCode,
	"status":   unified.FilterStatus,
}

// parseOps reads v2 permissions ("rs", "cruds": each letter at most once,
// in that order), or v1's "read", "write" and "*".
func parseOps(p string) Op {
	switch p {
	case "read":
		return OpRead | OpSearch
	case "write":
		return OpCreate | OpUpdate | OpDelete
	case "*":
		return OpCreate | OpRead | OpUpdate | OpDelete | OpSearch
	}
	var ops Op
	last := -1
	for _, c := range p {
		i := strings.IndexRune("cruds", c)
		if i <= last {
			return 0
		}
		last = i
		ops |= 1 << i
	}
	return ops
}
