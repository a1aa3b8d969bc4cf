package unified

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"
)

// ResourceType names a unified resource as it appears in API paths
// (`/v1/{connection_id}/{resource}`).
type ResourceType string

// The unified resource types.
const (
	Patients          ResourceType = "patients"
	Practitioners     ResourceType = "practitioners"
	Organizations     ResourceType = "organizations"
	Locations         ResourceType = "locations"
	Encounters        ResourceType = "encounters"
	Observations      ResourceType = "observations"
	Conditions        ResourceType = "conditions"
	Allergies         ResourceType = "allergies"
	Medications       ResourceType = "medications"
	Immunizations     ResourceType = "immunizations"
	Procedures        ResourceType = "procedures"
	DiagnosticReports ResourceType = "diagnostic_reports"
	Documents         ResourceType = "documents"
	Appointments      ResourceType = "appointments"
	Coverages         ResourceType = "coverages"
)

// Known reports whether r is one of the unified resource types.
func (r ResourceType) Known() bool { return goTypes[r] != nil }

// Source is the provenance block every unified object carries: which
// connection it came from, which source system, the source's own id, and
// when Ferry fetched it (always live: Ferry keeps no copy).
type Source struct {
	ConnectionID string    `json:"connection_id"`
	System       string    `json:"system"`
	SourceID     string    `json:"source_id"`
	FetchedAt    time.Time `json:"fetched_at"`
}

// Coding is a code in a code system, keeping the system URI so clients can
// tell LOINC from a local code.
type Coding struct {
	System string `json:"system,omitempty"`
	// SystemName is the short name of a recognised system ("loinc",
	// "snomed", "rxnorm", "icd10cm", "cvx", "ndc", "ucum", "npi"), absent
	// for others.
	SystemName string `json:"system_name,omitempty"`
	Code       string `json:"code,omitempty"`
	Display    string `json:"display,omitempty"`
}

// Identifier is a business identifier (MRN, SSN, member id) qualified by the
// namespace (system URI) that issued it.
type Identifier struct {
	System string  `json:"system,omitempty"`
	Value  string  `json:"value"`
	Type   *Coding `json:"type,omitempty"`
	Use    string  `json:"use,omitempty"`
}

// HumanName is one of a person's names, split into parts.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// ContactPoint is a phone number, email address or other telecom channel.
type ContactPoint struct {
	System string `json:"system,omitempty"` // phone | fax | email | pager | url | sms | other
	Value  string `json:"value"`
	Use    string `json:"use,omitempty"` // home | work | temp | old | mobile
}

// Address is a postal address.
type Address struct {
	Use        string   `json:"use,omitempty"`
	Lines      []string `json:"lines,omitempty"`
	City       string   `json:"city,omitempty"`
	District   string   `json:"district,omitempty"`
	State      string   `json:"state,omitempty"`
	PostalCode string   `json:"postal_code,omitempty"`
	Country    string   `json:"country,omitempty"`
}

// Patient is a person receiving care (FHIR R4 Patient, US Core aligned).
type Patient struct {
	ID          string         `json:"id"`
	Identifiers []Identifier   `json:"identifiers,omitempty"`
	Names       []HumanName    `json:"names,omitempty"`
	BirthDate   string         `json:"birth_date,omitempty"` // YYYY, YYYY-MM or YYYY-MM-DD, as precise as the source
	Gender      string         `json:"gender,omitempty"`     // male | female | other | unknown
	Telecom     []ContactPoint `json:"telecom,omitempty"`
	Addresses   []Address      `json:"addresses,omitempty"`
	Deceased    *Deceased      `json:"deceased,omitempty"`
	Active      *bool          `json:"active,omitempty"`
	UpdatedAt   string         `json:"updated_at,omitempty"`
	Source      Source         `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Deceased says whether, and when if known, the patient died. FHIR's
// deceased[x] is either a boolean or a date-time; both fold into this.
type Deceased struct {
	Deceased bool   `json:"deceased"`
	At       string `json:"at,omitempty"`
}

// goTypes maps each resource to the Go type of its records: the OpenAPI
// document and the host's field masks are derived from them.
var goTypes = map[ResourceType]reflect.Type{
	Patients:          reflect.TypeFor[Patient](),
	Practitioners:     reflect.TypeFor[Practitioner](),
	Organizations:     reflect.TypeFor[Organization](),
	Locations:         reflect.TypeFor[Location](),
	Encounters:        reflect.TypeFor[Encounter](),
	Observations:      reflect.TypeFor[Observation](),
	Conditions:        reflect.TypeFor[Condition](),
	Allergies:         reflect.TypeFor[Allergy](),
	Medications:       reflect.TypeFor[Medication](),
	Immunizations:     reflect.TypeFor[Immunization](),
	Procedures:        reflect.TypeFor[Procedure](),
	DiagnosticReports: reflect.TypeFor[DiagnosticReport](),
	Documents:         reflect.TypeFor[Document](),
	Appointments:      reflect.TypeFor[Appointment](),
	Coverages:         reflect.TypeFor[Coverage](),
}

// ResourceTypes returns every resource type, sorted.
func ResourceTypes() []ResourceType {
	out := make([]ResourceType, 0, len(goTypes))
	for r := range goTypes {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// GoType returns the Go type of r's records, or nil for an unknown r.
func (r ResourceType) GoType() reflect.Type { return goTypes[r] }

// Fields returns the top-level JSON field names of r's records, in
// declaration order: what a `fields` mask may name.
func (r ResourceType) Fields() []string {
	t := goTypes[r]
	if t == nil {
		return nil
	}
	out := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}
