package authz

import "github.com/ferryhealth/ferry/unified"

// fhirTypes maps the FHIR resource types a SMART scope names onto the
// unified resources (docs/authorization.md keeps the same table).
var fhirTypes = map[string]unified.ResourceType{
	"Patient":            unified.Patients,
	"Practitioner":       unified.Practitioners,
	"Organization":       unified.Organizations,
	"Location":           unified.Locations,
	"Encounter":          unified.Encounters,
	"Observation":        unified.Observations,
	"Condition":          unified.Conditions,
	"AllergyIntolerance": unified.Allergies,
	"MedicationRequest":  unified.Medications,
	"Immunization":       unified.Immunizations,
	"Procedure":          unified.Procedures,
	"DiagnosticReport":   unified.DiagnosticReports,
	"DocumentReference":  unified.Documents,
	"Appointment":        unified.Appointments,
	"Coverage":           unified.Coverages,
}

// UnifiedResource is the unified resource a FHIR type maps to.
func UnifiedResource(fhirType string) (unified.ResourceType, bool) {
	r, ok := fhirTypes[fhirType]
	return r, ok
}

// patientless are the resources outside any patient's compartment: a
// patient-scoped token reads them without a patient filter.
var patientless = map[unified.ResourceType]bool{
	unified.Practitioners: true, unified.Organizations: true, unified.Locations: true,
}

// InCompartment reports whether a resource's records belong to a patient.
func InCompartment(r unified.ResourceType) bool { return !patientless[r] }
