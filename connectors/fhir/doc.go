// Package fhir is the connector for FHIR R4 REST sources (kind "fhir").
//
// It maps the source's resources into Ferry's unified model, one file per
// unified resource (patient.go, observation.go, …), each registering a
// resourceMap (resources.go): the FHIR type, the search filters and their
// FHIR translation, and the mapping of a record: a decoding struct that
// holds only the elements the mapping reads, and its unified method. A
// codec (codec.go) runs every mapping the same way, with little
// allocation: it decodes into decoding structs that each call reuses and
// empties (reset.go), takes the unified record's parts from slabs
// (mapper.go), and encodes a page's records into one new array.
//
// It reaches the source only through the connectors.Transport of each
// request, with paths relative to the connection's base URL
// ("Patient/123", "Patient?name=..."), so it never learns the source's host
// name or credentials.
//
// # Settings
//
// A connection's settings are a JSON object, decoded strictly (an unknown
// field is an error):
//
//	{"paging": "auto", "patient_search": "patient"}
//
// patient_search chooses how a search by patient_id is asked: "patient"
// (the default, the parameter US Core requires of servers) or "subject",
// for servers that cannot evaluate `patient` where FHIR defines it through
// resolve() (Observation, Condition, Encounter, Procedure, DiagnosticReport,
// DocumentReference, MedicationRequest: subject=Patient/{id}; Appointment:
// actor=Patient/{id}; elsewhere patient=Patient/{id}, a typed reference).
// Medplum's in-memory server is one of them.
//
// paging chooses how the next page of a search is asked for. "auto" (the
// default) follows the Bundle's next link when the source gives one, and
// otherwise asks for the next _offset when the page came back full (and the
// Bundle's total, if any, says there is more). "link" only follows next
// links; "offset" only uses _offset and ignores links. A source that sends
// no next links and ignores _offset should use "link": it then serves one
// page per search rather than the first page over and over.
//
// # Page tokens
//
// The NextPageToken a search returns is opaque to the host, which seals it
// into the client's cursor, but its format is ours and is validated strictly
// when it comes back. It needs no server state. Two forms exist, each named
// by its prefix so a new form can be added without misreading an old one:
//
//	o:<offset>          the next _offset, a decimal without sign or leading zero
//	l:<path>[?<query>]  the source's next link, made relative to the base URL
//
// An l: token carries the whole next request, filters included, so the
// search parameters sent along with it are not used. An o: token carries
// only the offset: the filters and page size are the request's, so the host
// must send the same ones with it as with the first page (its sealed cursor
// is where that is enforced).
//
// The path of an l: token is made of segments of unreserved characters and
// '$', and its query is in canonical form (every name and value escaped with
// url.QueryEscape, joined with '&'), so a token has exactly one spelling and
// parsing then re-encoding gives the same string back. A next link that is
// absolute is trusted only when it names the same scheme and host as the
// Bundle's self link and lies under the base path that the self link shows;
// otherwise the search fails with connectors.CodeUpstream rather than
// following it. A source that sends absolute next links without a self link
// should use paging "offset".
//
// # Search parameters
//
// Each mapping file declares its filters and the FHIR search parameter each
// becomes: the standard filters (patient_id, updated_gte → _lastUpdated=ge,
// date_gte/date_lt → the resource's date parameter with ge/lt, code,
// category, status) and the connector's own (a patient's name, birth_date
// and identifier). The page size becomes _count. Characters that FHIR search treats as separators inside a value
// (',', '|', '$', '\') are escaped, so a client's value is matched as one
// value.
//
// # Errors
//
// Errors carry a connectors.ErrorCode and fixed wording; they never carry a
// source's response body or anything from a record, so they can never carry
// PHI.
package fhir
