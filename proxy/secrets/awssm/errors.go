package awssm

import (
	"context"
	"errors"

	"github.com/aws/smithy-go"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// The operations an Error names.
const (
	OpAssumeRole     = "AssumeRole"
	OpGetSecretValue = "GetSecretValue"
)

// Error is a failed call to AWS, classified. It matches (errors.Is) the
// secrets error of its class, and carries no secret value and no text of
// the AWS answer: only the operation and the AWS error code.
type Error struct {
	// Op is OpAssumeRole or OpGetSecretValue.
	Op string
	// Code is the AWS error code ("AccessDeniedException"), or "" when no
	// answer came (network failure, timeout).
	Code string
	// Status is the HTTP status of the answer, or 0.
	Status int

	kinds []error
}

func (e *Error) Error() string {
	s := "awssm: " + e.Op + ": " + e.kinds[0].Error()
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	return s
}

// Unwrap gives the secrets errors the failure matches.
func (e *Error) Unwrap() []error { return e.kinds }

// stsError marks a failure of AssumeRole, which reaches us wrapped inside
// the GetSecretValue error (credentials are fetched while signing).
type stsError struct{ err error }

func (e *stsError) Error() string { return e.err.Error() }
func (e *stsError) Unwrap() error { return e.err }

// AWS error codes by class. Codes not listed fall back on the HTTP status.
var (
	notFoundCodes = map[string]bool{
		"ResourceNotFoundException": true,
		// A secret scheduled for deletion or deleted answers this.
		"InvalidRequestException": true,
	}
	deniedCodes = map[string]bool{
		"AccessDenied": true, "AccessDeniedException": true,
		"UnrecognizedClientException": true, "InvalidClientTokenId": true,
		"SignatureDoesNotMatch": true, "RegionDisabledException": true,
		// KMS refused to decrypt the secret for the role.
		"DecryptionFailure": true, "KMSAccessDeniedException": true,
	}
	throttleCodes = map[string]bool{
		"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
		"TooManyRequestsException": true, "RequestLimitExceeded": true,
		"RequestThrottled": true, "RequestThrottledException": true,
		"SlowDown": true, "PriorRequestNotComplete": true,
	}
	badRefCodes = map[string]bool{"InvalidParameterException": true, "ValidationException": true}
)

// classify turns an SDK error into an *Error. ctx is the fetch's own
// context: its deadline passing means Secrets Manager did not answer in time.
func classify(ctx context.Context, err error) *Error {
	e := &Error{Op: OpGetSecretValue}
	var se *stsError
	if errors.As(err, &se) {
		e.Op = OpAssumeRole
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code = safeCode(ae.ErrorCode())
	}
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) {
		e.Status = hs.HTTPStatusCode()
	}
	switch {
	case notFoundCodes[e.Code] && e.Op == OpGetSecretValue:
		e.kinds = []error{secrets.ErrNotFound}
	case deniedCodes[e.Code]:
		e.kinds = []error{secrets.ErrAccessDenied}
	case throttleCodes[e.Code] || e.Status == 429:
		e.kinds = []error{secrets.ErrUnavailable, secrets.ErrThrottled}
	case badRefCodes[e.Code] && e.Op == OpGetSecretValue:
		e.kinds = []error{secrets.ErrBadRef}
	case e.Status == 403 || e.Status == 401:
		e.kinds = []error{secrets.ErrAccessDenied}
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		e.kinds = []error{secrets.ErrUnavailable, context.DeadlineExceeded}
	default:
		// 5xx, connection refused or reset, malformed answers.
		e.kinds = []error{secrets.ErrUnavailable}
	}
	return e
}

// safeCode keeps an error code only if it looks like one, so an odd
// endpoint cannot smuggle text into our errors and logs.
func safeCode(c string) string {
	if len(c) == 0 || len(c) > 64 || !all(c, func(b byte) bool { return isAlnum(b) || b == '.' || b == '_' }) {
		return ""
	}
	return c
}
