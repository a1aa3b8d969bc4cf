package sandbox

import (
	"slices"
)

// paramType is a FHIR search parameter type: it decides how a query value
// is parsed and how it is compared with a resource's values.
type paramType uint8

const (
	tokenParam     paramType = iota // code, Coding, CodeableConcept, Identifier
	dateParam                       // date, dateTime, instant, Period
	stringParam                     // string, HumanName
	referenceParam                  // Reference
)

var paramTypeNames = [...]string{tokenParam: "token", dateParam: "date", stringParam: "string", referenceParam: "reference"}

// param is one search parameter: where its values are in a resource.
//
// A path is FHIRPath-like: element names separated by dots; arrays are
// walked through at every step; "resolve()" follows a Reference to the
// sandbox resource it names. A choice element (effective[x]) is listed once
// per type it can take (effectiveDateTime, effectivePeriod).
type param struct {
	typ    paramType
	paths  []string
	target string // a reference parameter: the type a bare id names
}

func token(paths ...string) param { return param{typ: tokenParam, paths: paths} }
func date(paths ...string) param  { return param{typ: dateParam, paths: paths} }
func str(paths ...string) param   { return param{typ: stringParam, paths: paths} }
func patientRef(paths ...string) param {
	return param{typ: referenceParam, paths: paths, target: "Patient"}
}

// resourceType is a type the sandbox serves.
type resourceType struct {
	// params are its search parameters, besides commonParams.
	params map[string]param
	// includes maps each _include value it takes to the path of the
	// references it follows.
	includes map[string]string
	// recorded lists the paths whose latest date becomes meta.lastUpdated
	// when the data carries none, as if the record was last written when
	// it was made. Without any, the resource gets the data's latest stamp.
	recorded []string
}

// commonParams apply to every type.
var commonParams = map[string]param{
	"_id":          token("id"),
	"_lastUpdated": date("meta.lastUpdated"),
}

// resourceTypes are the served types and their search parameters, as R4
// defines them (https://hl7.org/fhir/R4/searchparameter-registry.html),
// restricted to those the unified API uses.
var resourceTypes = map[string]*resourceType{
	"Patient": {params: map[string]param{
		"name":       str("name"),
		"birthdate":  date("birthDate"),
		"identifier": token("identifier"),
	}},
	"Practitioner": {params: map[string]param{
		"name":       str("name"),
		"identifier": token("identifier"),
	}},
	"Organization": {params: map[string]param{
		"name":       str("name", "alias"),
		"identifier": token("identifier"),
	}},
	"Location": {params: map[string]param{
		"name":       str("name", "alias"),
		"identifier": token("identifier"),
		"status":     token("status"),
	}},
	"Encounter": {
		params: map[string]param{
			"patient": patientRef("subject"),
			"date":    date("period"),
			"status":  token("status"),
			"class":   token("class"),
			"type":    token("type"),
		},
		recorded: []string{"period"},
	},
	"Observation": {
		params: map[string]param{
			"patient":  patientRef("subject"),
			"code":     token("code"),
			"category": token("category"),
			"status":   token("status"),
			"date":     date("effectiveDateTime", "effectivePeriod", "effectiveInstant"),
		},
		recorded: []string{"issued", "effectiveDateTime", "effectivePeriod", "effectiveInstant"},
	},
	"Condition": {
		params: map[string]param{
			"patient":         patientRef("subject"),
			"code":            token("code"),
			"category":        token("category"),
			"clinical-status": token("clinicalStatus"),
			"onset-date":      date("onsetDateTime", "onsetPeriod"),
		},
		recorded: []string{"recordedDate", "onsetDateTime", "onsetPeriod"},
	},
	"AllergyIntolerance": {
		params: map[string]param{
			"patient":         patientRef("patient"),
			"code":            token("code", "reaction.substance"),
			"category":        token("category"),
			"clinical-status": token("clinicalStatus"),
			"date":            date("recordedDate"),
		},
		recorded: []string{"recordedDate"},
	},
	"MedicationRequest": {
		params: map[string]param{
			"patient":    patientRef("subject"),
			"code":       token("medicationCodeableConcept", "medicationReference.resolve().code"),
			"status":     token("status"),
			"category":   token("category"),
			"authoredon": date("authoredOn"),
		},
		includes: map[string]string{"MedicationRequest:medication": "medicationReference"},
		recorded: []string{"authoredOn"},
	},
	"Medication": {params: map[string]param{
		"code": token("code"),
	}},
	"Immunization": {
		params: map[string]param{
			"patient":      patientRef("patient"),
			"vaccine-code": token("vaccineCode"),
			"status":       token("status"),
			"date":         date("occurrenceDateTime"),
		},
		recorded: []string{"recorded", "occurrenceDateTime"},
	},
	"Procedure": {
		params: map[string]param{
			"patient":  patientRef("subject"),
			"code":     token("code"),
			"status":   token("status"),
			"category": token("category"),
			"date":     date("performedDateTime", "performedPeriod"),
		},
		recorded: []string{"performedDateTime", "performedPeriod"},
	},
	"DiagnosticReport": {
		params: map[string]param{
			"patient":  patientRef("subject"),
			"code":     token("code"),
			"category": token("category"),
			"status":   token("status"),
			"date":     date("effectiveDateTime", "effectivePeriod"),
		},
		recorded: []string{"issued", "effectiveDateTime", "effectivePeriod"},
	},
	"DocumentReference": {
		params: map[string]param{
			"patient":  patientRef("subject"),
			"type":     token("type"),
			"category": token("category"),
			"status":   token("status"),
			"date":     date("date"),
		},
		recorded: []string{"date"},
	},
	"Appointment": {
		params: map[string]param{
			"patient": patientRef("participant.actor"),
			"date":    date("start"),
			"status":  token("status"),
		},
		recorded: []string{"created"},
	},
	"Coverage": {params: map[string]param{
		"patient": patientRef("beneficiary"),
		"status":  token("status"),
		"type":    token("type"),
	}},
}

// lookup returns a type's search parameter.
func (rt *resourceType) lookup(name string) (param, bool) {
	if p, ok := rt.params[name]; ok {
		return p, true
	}
	p, ok := commonParams[name]
	return p, ok
}

// paramNames lists a type's search parameters, sorted.
func (rt *resourceType) paramNames() []string {
	names := make([]string, 0, len(rt.params)+len(commonParams))
	for n := range rt.params {
		names = append(names, n)
	}
	for n := range commonParams {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
