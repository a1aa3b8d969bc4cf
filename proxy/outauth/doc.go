// Package outauth gives the host transport the credential for each request
// it sends to a source, for every outbound auth kind a connection declares:
// static bearer, basic and API key headers from a tenant's secret, OAuth2
// client_credentials, and SMART Backend Services (a signed JWT client
// assertion, RS384 or ES384, as Epic, Oracle Health and others require).
//
// Everything is in memory. Tokens and secrets are secrets.Value, which
// prints REDACTED. Token endpoint errors are typed (*Error) and carry a
// status and an RFC 6749 error code from a closed set, never the endpoint's
// response text nor a credential.
//
// # Using an Authenticator
//
// The transport asks Credential for the header to set, sends the request,
// and on a 401 calls Rejected with the credential it used; when Rejected
// says true it asks Credential again and retries once:
//
//	c, err := auth.Credential(ctx)          // err: credentials_unavailable
//	resp := send(req with c.Header: c.Value)
//	if resp.Status == 401 && auth.Rejected(ctx, c) {
//		c, err = auth.Credential(ctx)
//		resp = send(req with c.Header: c.Value)
//	}
//
// Rejected forces the secret store to re-read the secret (rotation) for the
// static kinds, and drops the cached access token for the token kinds. Both
// are rate-limited (the store's forced-refresh interval; MinRefreshInterval,
// default 5s, for tokens) so a source that always answers 401 costs at most
// one secret or token fetch per interval, and a late 401 for an old
// credential never discards a newer one.
//
// # Tokens
//
// An access token is kept until its expiry minus Skew (default 60s). In the
// last fifth of that time the first caller starts one background refresh
// while everyone keeps the still-valid token; when no valid token is left,
// callers wait for the one refresh in flight. A failed fetch is not retried
// for ErrorBackoff (default 1s). When the token endpoint refuses the client
// (invalid_client, or 401), the client secret or private key is re-read
// from the store with force and the request retried once, so a rotated
// client secret is picked up without a restart.
//
// The token endpoint's HTTP client is injectable (the host passes one that
// dials through its egress control); redirects are never followed, so a
// credential cannot be sent elsewhere, and answers are capped at
// MaxBodyBytes (default 64 KiB).
package outauth
