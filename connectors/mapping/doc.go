// Package mapping holds the small conversions every connector writes when it
// maps a source record to a unified one: codings (with the canonical system
// URIs and the HL7 v2 coding-system names), dates and date-times kept exactly
// as precise as the source wrote them, quantities with UCUM units, and
// administrative gender.
//
// Each function is total: it never panics, whatever the source sent, and
// says with a boolean (or an empty result) when it could not map a value, so
// a mapper can leave the field out instead of inventing one. Connectors are
// free not to use it; the FHIR connector maps FHIR's own datatypes directly.
package mapping
