// Package sandbox is a small FHIR R4 source: a read-only server over
// synthetic patients compiled into the binary, serving every resource type
// the unified API maps.
//
// It exists so that `ferry demo` runs with no other software installed, and
// so that tests of the FHIR connector can talk to a source that behaves like
// a real server (searchset Bundles with total and absolute self and next
// links, _include, OperationOutcome errors, an optional bearer token)
// without a network. It keeps no state between requests and writes nothing
// anywhere.
//
// # Data
//
// All of it is synthetic: no real person appears (data/NOTICE.md has the
// sources and licences).
//
//   - data/patients.json: the Patient resources of twelve Synthea patients
//     (smart-on-fhir/generated-sample-data, R4/SYNTHEA), for patient search.
//   - data/synthea/: the whole records of four of them (Barry Wolf, Carla
//     Echevarría, Loyd Connelly, Trey Berge) as the Synthea transaction
//     Bundles had them, cut down by gendata.go to the served types:
//     Practitioner, Organization, Encounter, Observation (vital signs, labs,
//     surveys), Condition, AllergyIntolerance, MedicationRequest,
//     Immunization, Procedure and DiagnosticReport. Claims, care plans,
//     goals and imaging studies are left out.
//   - data/handwritten.json: fictional resources written for the sandbox,
//     tagged "hand-written", for what this Synthea version does not make:
//     Appointments, Coverages (with two fictional payer Organizations),
//     Locations (one per Synthea organization, and a closed one),
//     DocumentReferences (short inline notes), two Medications with the
//     MedicationRequests that refer to them, and problem-list Conditions and
//     categorised Procedures.
//
// The data is loaded once per process, as a server stores a transaction:
// each resource under its own id, a resource repeated across bundles once,
// and every reference rewritten to Type/id, whether it named another entry
// by its fullUrl (urn:uuid:…) or was conditional (Practitioner?identifier=…,
// which must match exactly one resource). A reference that resolves to
// nothing fails the load. The data has no meta.lastUpdated, so each resource
// is stamped with when it was recorded (an Observation's issued time, an
// Encounter's end, …) and those without such a date (Patient, Practitioner,
// Organization) with the latest stamp of all; hand-written resources carry
// their own.
//
// # Routes
//
// Under Prefix (/fhir/R4):
//
//	GET metadata          a CapabilityStatement listing the types and parameters below (never needs the token)
//	GET {type}/{id}       the resource, as stored
//	GET {type}?{params}   a searchset Bundle
//
// # Search
//
// Every type takes _id (token) and _lastUpdated (date). Besides:
//
//	Patient             name, birthdate, identifier
//	Practitioner        name, identifier
//	Organization        name (name or alias), identifier
//	Location            name (name or alias), identifier, status
//	Encounter           patient, date (period), status, class, type
//	Observation         patient, code, category, status, date (effective[x])
//	Condition           patient, code, category, clinical-status, onset-date
//	AllergyIntolerance  patient, code, category, clinical-status, date (recordedDate)
//	MedicationRequest   patient, code (medicationCodeableConcept, or the referenced Medication's code),
//	                    status, category, authoredon; _include=MedicationRequest:medication
//	Medication          code
//	Immunization        patient, vaccine-code, status, date (occurrence)
//	Procedure           patient, code, status, category, date (performed[x])
//	DiagnosticReport    patient, code, category, status, date (effective[x])
//	DocumentReference   patient, type, category, status, date
//	Appointment         patient (a participant's actor), date (start), status
//	Coverage            patient (beneficiary), status, type
//
// The parameters are a table of element paths per type (params.go); each
// resource's values are extracted once, at load. Values follow FHIR:
//
//   - token: "code" (any system), "system|code", "|code" (no system) or
//     "system|" (any code); a plain code element (status) has no system.
//   - date: YYYY, YYYY-MM, YYYY-MM-DD or a date-time (seconds and zone
//     optional; no zone means UTC), after an optional prefix eq (default),
//     gt, lt, ge or le. Both sides are ranges set by their precision (a day,
//     a second, a Period, open-ended when it has no end): eq means the
//     value's range lies within the query's; gt that it reaches past it; lt
//     that it starts before it; ge and le are eq or gt, eq or lt.
//   - string: a prefix of the value, or of any part of a name, ignoring case
//     and the accents of Latin letters.
//   - reference (patient): an id, Patient/id or an absolute URL ending so.
//
// A parameter given twice must match both times; values separated by
// commas match if any does; a backslash escapes ',', '|', '$' and itself
// inside a value. An empty value filters nothing. _count (default 20, at
// most 200; 0 gives the total only) and _offset page the matches,
// _sort=_lastUpdated orders them oldest change first (no other order), and the
// next link carries them (unless Options.OmitNextLinks). Like a strict
// server, the sandbox answers 400 with an OperationOutcome to a parameter
// it does not know, a modifier (code:text), an _include it does not
// support, or a value it cannot parse, so a filter is never silently
// dropped; the outcome lists what the type supports and never echoes what
// the client sent.
package sandbox
