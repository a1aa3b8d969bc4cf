package authz

import "github.com/ferryhealth/ferry/unified"

// UnifiedResource is the unified resource a FHIR type of a scope maps to
// (docs/authorization.md keeps the same table).
func UnifiedResource(fhirType string) (unified.ResourceType, bool) {
	return unified.FromFHIRType(fhirType)
}

// patientless are the resources outside any patient's compartment: a
// patient-scoped token reads them without a patient filter.
var patientless = map[unified.ResourceType]bool{
	unified.Practitioners: true, unified.Organizations: true, unified.Locations: true,
}

// InCompartment reports whether a resource's records belong to a patient.
func InCompartment(r unified.ResourceType) bool { return !patientless[r] }
