// Package verdict decides what a client is told when its request fails:
// the Problem (a code of unified's closed set, a detail Ferry chose, a
// Retry-After) and its RFC 9457 body.
//
// Judge is the one place where an error from a connector, the plugin host
// or the host's own transport becomes a problem. It is a pure function of
// the error and of what the request's source calls recorded, tested by
// table: the host's own refusals keep their code and Retry-After, a source
// that asked to slow down (429, 503) is reported as such whatever the
// connector made of it, and nothing of an error's text reaches the client.
// Detail is the one rule for which parameter names a problem may echo.
package verdict
