package outauth

import (
	"errors"
	"strconv"
)

// The kinds of failure; an *Error matches (errors.Is) exactly one.
var (
	// ErrUnreachable: the token endpoint did not answer usefully (network,
	// timeout, 5xx, 429). Retryable.
	ErrUnreachable = errors.New("token endpoint unreachable")
	// ErrRejected: the token endpoint refused the request (4xx): wrong
	// client id, secret, key, scope or grant.
	ErrRejected = errors.New("token endpoint rejected the request")
	// ErrBadResponse: an answer that is not a usable token (not JSON, too
	// large, no access_token, a token type other than bearer, a redirect).
	ErrBadResponse = errors.New("token endpoint gave an unusable answer")
	// ErrCredential: the client secret or private key could not be read
	// from the tenant's store; the secrets error is wrapped too.
	ErrCredential = errors.New("client credential unavailable")
	// ErrBadKey: the private key is not a usable PEM key (RSA ≥ 2048 bits
	// for RS384, P-384 for ES384).
	ErrBadKey = errors.New("private key unusable")
)

// Error is a failure to get a credential.
type Error struct {
	// Kind is one of the errors above.
	Kind error
	// Status is the token endpoint's HTTP status, or 0.
	Status int
	// OAuthCode is the RFC 6749 §5.2 "error" of the answer when it is one
	// of the registered codes, else "".
	OAuthCode string

	cause error
}

func (e *Error) Error() string {
	s := "outauth: " + e.Kind.Error()
	switch {
	case e.Status != 0 && e.OAuthCode != "":
		s += " (status " + strconv.Itoa(e.Status) + ", " + e.OAuthCode + ")"
	case e.Status != 0:
		s += " (status " + strconv.Itoa(e.Status) + ")"
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap gives the kind and, for transport and store failures, the cause
// (a net error, or a secrets error such as secrets.ErrUnavailable).
func (e *Error) Unwrap() []error {
	if e.cause != nil {
		return []error{e.Kind, e.cause}
	}
	return []error{e.Kind}
}

// oauthCodes is the closed set of RFC 6749 §5.2 codes (and RFC 6750's
// invalid_token) reported in errors; anything else is dropped.
var oauthCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"invalid_token": true, "access_denied": true, "server_error": true, "temporarily_unavailable": true,
}
