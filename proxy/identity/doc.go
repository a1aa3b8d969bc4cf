// Package identity says who is asking when a client presents an OAuth 2.0
// JWT access token (RFC 9068) instead of an API key.
//
// A Verifier is built from one config snapshot: every tenant's issuers,
// each with its key set (fetched through the egress policy by the HTTP
// client it is given, refetched on an unknown kid at most once per
// jwks_refetch_interval), its audience, algorithms and clock skew. It
// keeps no global state, so a new config builds a new Verifier beside the
// old one, and Close ends the old one's key refresh.
//
// Signatures are checked by golang-jwt (keyfunc's own token library) with
// keys from MicahParks/keyfunc and jwkset: no JOSE is written here. A
// validated token is remembered, keyed by its SHA-256, until it expires,
// in a bounded table, so the hot path pays one hash and one lookup.
package identity
