package connectors

import (
	"errors"
	"fmt"
)

// ErrorCode is why a connector call failed. The set mirrors the wire
// protocol's closed enum; the host turns each into a problem code.
type ErrorCode int

// The error codes a connector or the host transport may return.
const (
	// CodeInternal: a bug or an unexpected state in the connector.
	CodeInternal ErrorCode = iota
	// CodeInvalidArgument: a parameter or id the source cannot accept.
	CodeInvalidArgument
	// CodeNotFound: the source has no such record.
	CodeNotFound
	// CodeUnsupported: the connector does not offer this resource,
	// operation or parameter.
	CodeUnsupported
	// CodeUpstream: the source answered with an error or something that
	// cannot be mapped.
	CodeUpstream
	// CodeUpstreamTimeout: the deadline passed waiting for the source.
	CodeUpstreamTimeout
	// CodeSourceUnavailable: the source could not be reached.
	CodeSourceUnavailable
	// CodeCredentialsUnavailable: the connection's credentials could not be
	// read.
	CodeCredentialsUnavailable
	// CodeVersionConflict: an update's If-Match is not the record's
	// current version (Error.Version carries the current one); nothing was
	// changed.
	CodeVersionConflict
	// CodeIdempotencyKeyReused: a create's idempotency identifier is
	// already on a record written from another body.
	CodeIdempotencyKeyReused
	// CodeRejected: the source refused a write's content (its own
	// validation, a reference it does not hold).
	CodeRejected
)

var codeNames = [...]string{
	CodeInternal:               "internal",
	CodeInvalidArgument:        "invalid_argument",
	CodeNotFound:               "not_found",
	CodeUnsupported:            "unsupported",
	CodeUpstream:               "upstream",
	CodeUpstreamTimeout:        "upstream_timeout",
	CodeSourceUnavailable:      "source_unavailable",
	CodeCredentialsUnavailable: "credentials_unavailable",
	CodeVersionConflict:        "version_conflict",
	CodeIdempotencyKeyReused:   "idempotency_key_reused",
	CodeRejected:               "rejected",
}

func (c ErrorCode) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("ErrorCode(%d)", int(c))
}

// Error is a connector failure with a code. Only Code, Param and Version cross the
// process boundary; Err stays in the process that made it, so a connector
// can wrap an upstream error for its own tests without that text ever
// reaching the host, a log or a client.
type Error struct {
	Code  ErrorCode
	Param string // the offending parameter, for CodeInvalidArgument and CodeUnsupported
	// Version is the record's current version, for CodeVersionConflict
	// (see ValidVersion).
	Version string
	Err     error
}

func (e *Error) Error() string {
	s := "connector: " + e.Code.String()
	if e.Param != "" {
		s += " (" + e.Param + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a wrapped cause.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// InvalidParam returns a CodeInvalidArgument error naming the parameter.
func InvalidParam(name string) *Error {
	return &Error{Code: CodeInvalidArgument, Param: name}
}

// CodeOf returns the code of err: its *Error's code, or CodeInternal.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
