package unified

import (
	"strings"
	"time"
)

// MaxLimit is the largest page a client may ask for.
const MaxLimit = 200

// DefaultLimit is the page size when the client names none.
const DefaultLimit = 50

// List is the envelope of a search answer.
type List[T any] struct {
	// Data are the records of this page, at most `limit`, in the order the
	// source returned them. Always an array; it may be empty even when
	// NextCursor is present.
	Data []T `json:"data"`
	// NextCursor fetches the next page when passed as `cursor`; absent on
	// the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Changes is the envelope of a change-feed poll: the records created or
// updated since the cursor (or since), oldest change first.
type Changes[T any] struct {
	// Data are the changed records of this poll, at most `limit`. Always an
	// array; empty when nothing changed.
	Data []T `json:"data"`
	// NextCursor is where the next poll starts. Always present: a change
	// feed has no last page.
	NextCursor string `json:"next_cursor"`
	// HasMore says more changes are already waiting: poll again at once
	// rather than after the usual interval.
	HasMore bool `json:"has_more"`
}

// FilterKind says how a filter's value is written and checked.
type FilterKind string

// The filter kinds.
const (
	// FilterID is a record id of the connection: 1–64 of [A-Za-z0-9.-].
	FilterID FilterKind = "id"
	// FilterDate is a date (YYYY, YYYY-MM, YYYY-MM-DD) or an RFC 3339
	// date-time.
	FilterDate FilterKind = "date"
	// FilterToken is a code, optionally qualified by its system:
	// "code" or "system|code", where system is a URI or a recognised short
	// name ("loinc|8867-4").
	FilterToken FilterKind = "token"
	// FilterString is free text the connector matches as its source does.
	FilterString FilterKind = "string"
	// FilterOrder names an order of the records; the only one is
	// "updated_at", oldest change first.
	FilterOrder FilterKind = "order"
)

// Filter is a search parameter of the unified API.
type Filter struct {
	Name string
	Kind FilterKind
	Doc  string
}

// The standard filters. A connector's manifest says, per resource, which it
// supports and which are required; the host checks their values, so every
// connector gets the same grammar. Connectors may add their own filters
// (kind string), such as a patient's name.
const (
	FilterPatientID  = "patient_id"
	FilterUpdatedGTE = "updated_gte"
	FilterDateGTE    = "date_gte"
	FilterDateLT     = "date_lt"
	FilterCode       = "code"
	FilterCategory   = "category"
	FilterStatus     = "status"
	FilterSort       = "sort"
)

// SortUpdated is the value of the sort filter that orders records by the
// time the source last changed them, oldest first. A connector that offers
// it (and updated_gte) on a resource offers that resource's change feed.
const SortUpdated = "updated_at"

var standardFilters = []Filter{
	{FilterPatientID, FilterID, "Only records of this patient (the patient's id on the same connection)."},
	{FilterUpdatedGTE, FilterDate, "Only records the source changed at or after this date or date-time."},
	{FilterDateGTE, FilterDate, "Only records whose clinical date (effective, onset, authored, period…) is at or after this."},
	{FilterDateLT, FilterDate, "Only records whose clinical date is before this."},
	{FilterCode, FilterToken, `Only records with this code: "code" or "system|code"; system may be a short name (loinc, snomed, rxnorm, icd10cm, cvx, ndc).`},
	{FilterCategory, FilterToken, "Only records in this category (vital-signs, laboratory, problem-list-item…)."},
	{FilterStatus, FilterToken, "Only records with this status (final, active, completed…)."},
	{FilterSort, FilterOrder, `The records' order: "updated_at" is oldest change first.`},
}

// ReservedParams are query parameters every search accepts, handled by the
// host itself: they are never a connector's filters.
var ReservedParams = []string{"limit", "cursor", "fields", "raw"}

// StandardFilters returns the standard filters, in documentation order.
func StandardFilters() []Filter { return append([]Filter(nil), standardFilters...) }

// StandardFilter returns the standard filter called name.
func StandardFilter(name string) (Filter, bool) {
	for _, f := range standardFilters {
		if f.Name == name {
			return f, true
		}
	}
	return Filter{}, false
}

// maxFilterValue bounds every filter value; longer values are refused rather
// than truncated.
const maxFilterValue = 256

// NormalizeFilter checks a filter value against its kind and returns it in
// the form connectors receive: a token's short system name is replaced by
// the system's URI. ok is false for a value the kind does not allow.
func NormalizeFilter(kind FilterKind, v string) (string, bool) {
	if v == "" || len(v) > maxFilterValue {
		return "", false
	}
	switch kind {
	case FilterID:
		return v, ValidID(v)
	case FilterDate:
		return v, ValidDate(v)
	case FilterToken:
		return normalizeToken(v)
	case FilterOrder:
		return v, v == SortUpdated
	case FilterString:
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] == 0x7f {
				return "", false
			}
		}
		return v, true
	}
	return "", false
}

func normalizeToken(v string) (string, bool) {
	system, code, qualified := strings.Cut(v, "|")
	if !qualified {
		return v, plainToken(v)
	}
	if code == "" || strings.Contains(code, "|") || !plainToken(code) {
		return "", false
	}
	if system == "" {
		return v, true // FHIR's "|code": a code without a system
	}
	if uri, ok := SystemByName(system); ok {
		return uri + "|" + code, true
	}
	for i := 0; i < len(system); i++ {
		if c := system[i]; c <= 0x20 || c == 0x7f || c == ',' {
			return "", false
		}
	}
	return CanonicalSystem(system) + "|" + code, true
}

// plainToken accepts a code: printable, no spaces, no list separator.
func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c == 0x7f || c == ',' || c == '|' {
			return false
		}
	}
	return true
}

// ValidID reports whether id is a record id Ferry accepts in paths and
// filters: FHIR's id rule, 1–64 of [A-Za-z0-9.-], and not a dot segment.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 || strings.Trim(id, ".") == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ValidDate accepts YYYY, YYYY-MM, YYYY-MM-DD and RFC 3339 date-times.
func ValidDate(v string) bool {
	var layout string
	switch len(v) {
	case 4:
		layout = "2006"
	case 7:
		layout = "2006-01"
	case 10:
		layout = time.DateOnly
	default:
		layout = time.RFC3339Nano
	}
	_, err := time.Parse(layout, v)
	return err == nil
}
