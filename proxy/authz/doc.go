// Package authz decides what an authenticated client may see: SMART v2
// scopes mapped onto the unified API, the patient compartment a
// patient-scoped token is confined to, and the client's minimum-necessary
// policy. It is pure: a Grant or Policy is built from a token's scopes or
// the config, and answers questions about a resource, an operation and a
// record; the pipeline (package proxy) forces its answers on the request
// and on the plugin's records.
package authz
