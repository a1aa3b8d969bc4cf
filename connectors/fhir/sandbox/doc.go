// Package sandbox is a tiny FHIR R4 source: a read-only Patient endpoint
// over a dozen synthetic Synthea patients compiled into the binary.
//
// It exists so that `ferry demo` runs with no other software installed, and
// so that tests of the FHIR connector can talk to a source that behaves like
// a real server (searchset Bundles with total and absolute self and next
// links, OperationOutcome errors, an optional bearer token) without a
// network. It is not a FHIR server: it serves only what the connector asks
// for, keeps no state between requests and writes nothing anywhere.
//
// Routes, under Prefix (/fhir/R4):
//
//	GET metadata                a minimal CapabilityStatement (never needs the token)
//	GET Patient/{id}            the patient, as the Synthea bundle had it
//	GET Patient?name=&birthdate=&identifier=&_count=&_offset=
//
// name matches any given or family name by prefix, ignoring case and the
// accents of Latin letters; birthdate takes YYYY, YYYY-MM or YYYY-MM-DD,
// optionally with the prefix "eq"; identifier takes "value", "system|value",
// "|value" (no system) or "system|" (any value). A parameter given twice must
// match both times; values separated by commas match if any does, and a
// backslash escapes ',', '|', '$' and itself inside a value. Other parameters
// are ignored, as FHIR's lenient handling allows.
package sandbox
