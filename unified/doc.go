// Package unified defines Ferry's unified healthcare API: the resource types
// every connector maps its source into, the query a client may ask, and the
// problem (error) vocabulary the API answers with.
//
// It is a leaf: it imports only the standard library, so connectors, the
// proxy and third-party plugin authors can all depend on it without pulling
// in anything else. The JSON tags are the wire contract of the public API;
// renaming one is a breaking change.
//
// Every resource follows one pattern: an `id` (the source's logical id), the
// resource's own fields with FHIR R4 / US Core semantics but flat names, a
// `source` provenance block, and optionally the untouched source record
// under `raw`.
package unified
