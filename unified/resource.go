package unified

import (
	"encoding/json"
	"time"
)

// ResourceType names a unified resource as it appears in API paths
// (`/v1/{connection_id}/{resource}`).
type ResourceType string

// The unified resource types. Only Patients is served by the walking
// skeleton; the rest are declared so routes, manifests and audit events share
// one vocabulary from the start.
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

var resourceTypes = map[ResourceType]bool{
	Patients: true, Practitioners: true, Organizations: true, Locations: true,
	Encounters: true, Observations: true, Conditions: true, Allergies: true,
	Medications: true, Immunizations: true, Procedures: true,
	DiagnosticReports: true, Documents: true, Appointments: true, Coverages: true,
}

// Known reports whether r is one of the unified resource types.
func (r ResourceType) Known() bool { return resourceTypes[r] }

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
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
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
