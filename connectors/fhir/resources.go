package fhir

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// resourceMap is how one unified resource is read from a FHIR R4 source:
// which FHIR type holds it, which search parameters it takes and how they
// translate, and how its records are mapped. Each mapping file (patient.go,
// observation.go, …) declares one and registers it in an init function.
type resourceMap struct {
	resource unified.ResourceType
	fhirType string
	// params are the unified search filters, in the order they are
	// declared in the manifest and sent to the source.
	params []searchParam
	// record maps one resource; inBundle says it came from a searchset,
	// where a resource of another type is errOtherType rather than an
	// upstream error. The record is a new array of its own.
	record func(body []byte, src unified.Source, raw, inBundle bool) (json.RawMessage, error)
	// page maps the matches of a searchset Bundle. The records share one
	// new array, each a slice of it whose capacity ends where it ends.
	page func(body []byte, src unified.Source, raw bool) ([]json.RawMessage, pageInfo, error)
	// include lists _include parameters a search sends, for mappings that
	// need a referenced resource (a MedicationRequest's Medication).
	include []string
	// resolveRead, when set, completes a read's record with what the
	// resource only references (body is the resource as the source sent
	// it), through the same transport and deadline.
	resolveRead func(ctx context.Context, tr connectors.Transport, body []byte, rec json.RawMessage) (json.RawMessage, error)
}

var resourceMaps = map[unified.ResourceType]*resourceMap{}

// register adds a mapping; a resource mapped twice is a programming error.
func register(m *resourceMap) {
	if _, dup := resourceMaps[m.resource]; dup {
		panic("fhir: resource mapped twice: " + string(m.resource))
	}
	if m.record == nil || m.page == nil {
		panic("fhir: incomplete mapping: " + string(m.resource))
	}
	// Every resource that filters by last change can also be ordered by
	// it: the two together are its change feed (the host's _changes
	// route), so neither is declared without the other.
	for _, p := range m.params {
		if p.name == unified.FilterUpdatedGTE {
			m.params = append(m.params, sortParam())
			break
		}
	}
	resourceMaps[m.resource] = m
}

// resourceHead is the part every FHIR resource shares. Each mapping's
// decoding struct embeds it.
type resourceHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
}

func (h *resourceHead) head() *resourceHead { return h }

// updated is meta.lastUpdated, or "".
func (h *resourceHead) updated() string { return h.Meta.LastUpdated }

// resourceTypeOf returns the resourceType of a resource that failed to
// decode, or "".
func resourceTypeOf(body []byte) string {
	var r struct {
		ResourceType string `json:"resourceType"`
	}
	if gojson.Unmarshal(body, &r) != nil {
		return ""
	}
	return r.ResourceType
}

// paramKind is how a unified filter's value becomes a FHIR search value.
type paramKind int

const (
	paramString paramKind = iota // escaped as one value
	paramToken                   // "code" or "system|code", each side escaped
	paramID                      // a record id, sent as it is (the host checked it)
	paramDate                    // an exact date YYYY-MM-DD
	paramDateGE                  // a lower bound: ge<date>
	paramDateLT                  // an upper bound: lt<date>
	paramSort                    // an order: "updated_at" becomes _sort=_lastUpdated
)

// searchParam is one unified filter of a resource and its FHIR translation.
type searchParam struct {
	name     string
	fhir     string
	kind     paramKind
	required bool
}

// Helpers for the standard filters, so each mapping file states only which
// FHIR parameter carries them.

func patientParam(fhirParam string, required bool) searchParam {
	return searchParam{name: unified.FilterPatientID, fhir: fhirParam, kind: paramID, required: required}
}

func updatedParam() searchParam {
	return searchParam{name: unified.FilterUpdatedGTE, fhir: "_lastUpdated", kind: paramDateGE}
}

// sortParam orders a search by meta.lastUpdated, oldest first.
func sortParam() searchParam {
	return searchParam{name: unified.FilterSort, fhir: "_sort", kind: paramSort}
}

func dateParams(fhirParam string) []searchParam {
	return []searchParam{
		{name: unified.FilterDateGTE, fhir: fhirParam, kind: paramDateGE},
		{name: unified.FilterDateLT, fhir: fhirParam, kind: paramDateLT},
	}
}

// clinical names the FHIR parameters that carry the standard filters of a
// patient-scoped clinical resource; "" leaves a filter out.
type clinical struct {
	patient, code, category, status, date string
}

// params gives the filters in one fixed order: patient_id (required), code,
// category, status, the date range, updated_gte.
func (c clinical) params() []searchParam {
	ps := []searchParam{patientParam(c.patient, true)}
	for _, t := range []struct{ name, fhir string }{
		{unified.FilterCode, c.code}, {unified.FilterCategory, c.category}, {unified.FilterStatus, c.status},
	} {
		if t.fhir != "" {
			ps = append(ps, tokenParam(t.name, t.fhir))
		}
	}
	if c.date != "" {
		ps = append(ps, dateParams(c.date)...)
	}
	return append(ps, updatedParam())
}

func tokenParam(name, fhirParam string) searchParam {
	return searchParam{name: name, fhir: fhirParam, kind: paramToken}
}

// capability is the manifest entry of the mapping.
func (m *resourceMap) capability() connectors.ResourceCapability {
	c := connectors.ResourceCapability{Resource: m.resource, Read: true, Search: true}
	if _, ok := writeMaps[m.resource]; ok {
		c.Create, c.Update = true, true
	}
	for _, p := range m.params {
		c.SearchParams = append(c.SearchParams, p.name)
		if p.required {
			c.RequiredParams = append(c.RequiredParams, p.name)
		}
	}
	return c
}

// query translates the request's filters into FHIR search parameters, in
// the mapping's fixed order so the same search is always the same request.
func (m *resourceMap) query(params map[string]string, limit int, s *Settings) ([]connectors.Param, error) {
	for name := range params {
		if !m.accepts(name) {
			// The host passes only declared parameters; one that is not is
			// refused rather than ignored, so a filter is never dropped.
			return nil, &connectors.Error{Code: connectors.CodeUnsupported, Param: name}
		}
	}
	q := make([]connectors.Param, 0, len(params)+len(m.include)+1)
	for _, p := range m.params {
		v, ok := params[p.name]
		if !ok || v == "" {
			if p.required {
				return nil, connectors.InvalidParam(p.name)
			}
			continue
		}
		fv, err := p.value(v)
		if err != nil {
			return nil, err
		}
		name := p.fhir
		if p.kind == paramID && p.name == unified.FilterPatientID && s != nil && s.PatientSearch == PatientSearchSubject {
			// Typed references throughout: some servers match a plain id
			// only against references written the same way.
			fv = "Patient/" + fv
			if alt, ok := subjectSearch[m.fhirType]; ok {
				name = alt
			}
		}
		q = append(q, connectors.Param{Name: name, Value: fv})
	}
	for _, inc := range m.include {
		q = append(q, connectors.Param{Name: "_include", Value: inc})
	}
	q = append(q, connectors.Param{Name: "_count", Value: strconv.Itoa(limit)})
	return q, nil
}

// subjectSearch names, per FHIR type whose patient search parameter is
// defined through resolve(), the parameter that reaches the same patient
// by plain reference (patient_search "subject").
var subjectSearch = map[string]string{
	"Observation": "subject", "Condition": "subject", "Encounter": "subject",
	"Procedure": "subject", "DiagnosticReport": "subject", "DocumentReference": "subject",
	"MedicationRequest": "subject", "Appointment": "actor",
}

func (m *resourceMap) accepts(name string) bool {
	for _, p := range m.params {
		if p.name == name {
			return true
		}
	}
	return false
}

// value checks and translates one filter value. The host checks the
// standard filters already; they are checked again because a connector
// must not trust that, and extras (a name, a birth date) only here.
func (p searchParam) value(v string) (string, error) {
	bad := func() error { return connectors.InvalidParam(p.name) }
	switch p.kind {
	case paramString:
		if strings.ContainsAny(v, "\x00\r\n") {
			return "", bad()
		}
		return escapeSearchValue(v), nil
	case paramToken:
		if !validToken(v) {
			return "", bad()
		}
		if sys, code, ok := strings.Cut(v, "|"); ok {
			return escapeSearchValue(sys) + "|" + escapeSearchValue(code), nil
		}
		return escapeSearchValue(v), nil
	case paramID:
		if !validID(v) {
			return "", bad()
		}
		return v, nil
	case paramDate:
		if !validDate(v) {
			return "", bad()
		}
		return v, nil
	case paramSort:
		if v != unified.SortUpdated {
			return "", bad()
		}
		return "_lastUpdated", nil
	case paramDateGE, paramDateLT:
		if !unified.ValidDate(v) {
			return "", bad()
		}
		if p.kind == paramDateGE {
			return "ge" + v, nil
		}
		return "lt" + v, nil
	}
	return "", bad()
}

// validToken accepts "value" and "system|value", FHIR's token search
// syntax. An empty system ("|value") is FHIR's "no system"; more than one
// separator or nothing on either side is refused.
func validToken(v string) bool {
	if v == "" || strings.ContainsAny(v, "\x00\r\n") {
		return false
	}
	sys, val, found := strings.Cut(v, "|")
	if !found {
		return true
	}
	return !strings.Contains(val, "|") && (sys != "" || val != "")
}
