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
	// ConnectionID is the connection the record was read through: the
	// {connection_id} of the request path.
	ConnectionID string `json:"connection_id"`
	// System is the kind of source system the connector read the record
	// from, such as "fhir" for a FHIR R4 server.
	System string `json:"system"`
	// SourceID is the record's id in the source system; for a FHIR source
	// it is the same as the record's id.
	SourceID string `json:"source_id"`
	// FetchedAt is when Ferry fetched the record from the source for this
	// request (RFC 3339).
	FetchedAt time.Time `json:"fetched_at"`
}

// Coding is a code in a code system, keeping the system URI so clients can
// tell LOINC from a local code.
type Coding struct {
	// System is the URI of the code system ("http://loinc.org"). A
	// recognised system sent under an alias (an OID, an older URL) is
	// written as its canonical URI; others are kept as the source sent
	// them. Absent when the source gave none.
	System string `json:"system,omitempty"`
	// SystemName is the short name of a recognised system ("loinc",
	// "snomed", "rxnorm", "icd10cm", "cvx", "ndc", "ucum", "npi"), absent
	// for others.
	SystemName string `json:"system_name,omitempty"`
	// Code is the code, as defined by System ("8867-4").
	Code string `json:"code,omitempty"`
	// Display is the code's human-readable meaning as the source sent it
	// ("Heart rate").
	Display string `json:"display,omitempty"`
}

// Identifier is a business identifier (MRN, SSN, member id) qualified by the
// namespace (system URI) that issued it.
type Identifier struct {
	// System is the URI of the namespace that issued the value (a
	// hospital's MRN system, "http://hl7.org/fhir/sid/us-npi"); absent when
	// the source gave none.
	System string `json:"system,omitempty"`
	// Value is the identifier itself, unique within System.
	Value string `json:"value"`
	// Type is the kind of identifier: MR (medical record number), SS
	// (social security number), MB (member number) … from HL7 v2 table
	// 0203. The first coding of FHIR Identifier.type.
	Type *Coding `json:"type,omitempty"`
	// Use is usual | official | temp | secondary | old.
	Use string `json:"use,omitempty"`
}

// HumanName is one of a person's names, split into parts.
type HumanName struct {
	// Use is usual | official | temp | nickname | anonymous | old | maiden.
	Use string `json:"use,omitempty"`
	// Family is the family name (surname).
	Family string `json:"family,omitempty"`
	// Given are the given names, in order: first name, then middle names.
	Given []string `json:"given,omitempty"`
	// Prefix holds the parts written before the name ("Dr.", "Mrs.").
	Prefix []string `json:"prefix,omitempty"`
	// Suffix holds the parts written after the name ("Jr.", "MD").
	Suffix []string `json:"suffix,omitempty"`
	// Text is the whole name as the source displays it ("Dr. Jane Q.
	// Smith"); absent unless the source gave it (Ferry does not assemble it
	// from the parts).
	Text string `json:"text,omitempty"`
}

// ContactPoint is a phone number, email address or other telecom channel.
type ContactPoint struct {
	System string `json:"system,omitempty"` // phone | fax | email | pager | url | sms | other
	// Value is the phone number, email address or URL, as the source wrote
	// it.
	Value string `json:"value"`
	Use   string `json:"use,omitempty"` // home | work | temp | old | mobile
}

// Address is a postal address.
type Address struct {
	// Use is home | work | temp | old | billing.
	Use string `json:"use,omitempty"`
	// Lines are the street lines (house number, street, unit), in order.
	Lines []string `json:"lines,omitempty"`
	// City is the city, town or village.
	City string `json:"city,omitempty"`
	// District is the county or other administrative area within the
	// state.
	District string `json:"district,omitempty"`
	// State is the state, province or region; US sources usually write the
	// two-letter USPS code ("MA").
	State string `json:"state,omitempty"`
	// PostalCode is the ZIP or other postal code.
	PostalCode string `json:"postal_code,omitempty"`
	// Country is the country as the source wrote it, usually an ISO 3166
	// code ("US") but possibly a name.
	Country string `json:"country,omitempty"`
}

// Patient is a person receiving care (FHIR R4 Patient, US Core aligned).
type Patient struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/patients/{id}, and what a patient_id filter
	// takes.
	ID string `json:"id"`
	// Identifiers are the patient's business identifiers, such as medical
	// record numbers (type MR) and the SSN (type SS).
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Names are the patient's names (official, usual, maiden …).
	Names     []HumanName `json:"names,omitempty"`
	BirthDate string      `json:"birth_date,omitempty"` // YYYY, YYYY-MM or YYYY-MM-DD, as precise as the source
	Gender    string      `json:"gender,omitempty"`     // male | female | other | unknown
	// Telecom lists the patient's phone numbers, email addresses and other
	// contact points.
	Telecom []ContactPoint `json:"telecom,omitempty"`
	// Addresses are the patient's postal addresses (home, work, old …).
	Addresses []Address `json:"addresses,omitempty"`
	// Deceased says whether, and when, the patient died (FHIR
	// deceased[x]); absent when the source does not say.
	Deceased *Deceased `json:"deceased,omitempty"`
	// Active says whether the patient record is in active use (false for a
	// record retired or merged into another), not whether the patient is
	// alive; absent when the source does not say.
	Active *bool `json:"active,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Deceased says whether, and when if known, the patient died. FHIR's
// deceased[x] is either a boolean or a date-time; both fold into this.
type Deceased struct {
	// Deceased is true when the patient has died, false when the source
	// states that the patient is alive.
	Deceased bool `json:"deceased"`
	// At is when the patient died, a date or date-time as precise as the
	// source wrote it (FHIR deceasedDateTime); absent when only the fact is
	// known.
	At string `json:"at,omitempty"`
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

// fhirTypes maps the FHIR R4 resource types that have a unified
// counterpart: what the FHIR connector maps and what SMART scopes name.
var fhirTypes = map[string]ResourceType{
	"Patient":            Patients,
	"Practitioner":       Practitioners,
	"Organization":       Organizations,
	"Location":           Locations,
	"Encounter":          Encounters,
	"Observation":        Observations,
	"Condition":          Conditions,
	"AllergyIntolerance": Allergies,
	"MedicationRequest":  Medications,
	"Immunization":       Immunizations,
	"Procedure":          Procedures,
	"DiagnosticReport":   DiagnosticReports,
	"DocumentReference":  Documents,
	"Appointment":        Appointments,
	"Coverage":           Coverages,
}

// FromFHIRType returns the unified resource a FHIR resource type maps to.
func FromFHIRType(t string) (ResourceType, bool) {
	r, ok := fhirTypes[t]
	return r, ok
}
