// Package awssm is the tenant-owned secrets provider: AWS Secrets Manager in
// the tenant's own AWS account, reached through an IAM role the tenant
// created for Ferry.
//
// One Provider serves one tenant. On first use it calls STS AssumeRole with
// the tenant's role ARN and ExternalId, in the tenant's region, under the
// node's own identity (the pod's IAM role in production); the temporary
// credentials are cached and renewed before they expire. With them it calls
// Secrets Manager GetSecretValue. Values live in memory only, as
// secrets.Value, which prints REDACTED; nothing is ever written anywhere.
//
// # References
//
// A reference is a full secret ARN, optionally followed by "#" and the name
// of one string field of a JSON secret:
//
//	ref       = arn [ "#" field ]
//	arn       = "arn:" partition ":secretsmanager:" region ":" account ":secret:" name "-" suffix
//	partition = "aws" | "aws-" 1*( a-z )            ; aws, aws-cn, aws-us-gov, ...
//	region    = a-z a-z 1*( "-" 1*( a-z ) ) "-" 1*( 0-9 )  ; us-east-1, eu-central-2
//	account   = 12( 0-9 )
//	name      = 1*( A-Z / a-z / 0-9 / "/" / "_" / "+" / "=" / "." / "@" / "-" )
//	suffix    = 6( A-Z / a-z / 0-9 )                ; the random suffix AWS appends
//	field     = 1*128( A-Z / a-z / 0-9 / "_" / "-" / "." )
//
// For example
//
//	arn:aws:secretsmanager:eu-west-1:111111111111:secret:ferry/epic-prod-a1B2c3#client_secret
//
// The ARN must be complete (with the six-character suffix), so a reference
// names exactly one secret and never matches another by prefix. A secret
// whose value is not a JSON object, or whose field is missing or not a
// string, resolves a field reference to secrets.ErrNotFound; a reference
// without a field gives the whole value (SecretString, or SecretBinary).
//
// A reference is refused with secrets.ErrBadRef when its region is not the
// tenant's region (data residency) or its account is not the account of the
// role Ferry assumes (a tenant's connections read only that tenant's
// secrets, even if another account's resource policy would allow more).
// ParseRef and ValidateRef let config validation check references at load.
//
// # Cache
//
// Values are cached per secret for TTL (default 5 minutes), measured from the
// successful fetch. During the last RefreshAhead of the TTL (default a fifth)
// the first Resolve starts one background fetch and every caller keeps the
// cached value, so steady traffic never waits for Secrets Manager.
// Concurrent misses of one secret share one GetSecretValue (singleflight).
// When Secrets Manager fails, the cached value is served until its TTL ends,
// then the error; a failed fetch is not retried for ErrorBackoff (default
// 2s), so an outage or throttling is not answered with a call per request.
// Recovery needs no restart: the first Resolve after the backoff fetches.
//
// # Forced refresh and rotation
//
// Refresh is for the source's 401: it fetches AWSCURRENT; when that is the
// version already served and an AWSPENDING version exists, a rotation is in
// progress (the source may already accept the pending credential), so
// AWSPENDING is served until AWSCURRENT changes. Concurrent Refresh calls for
// one secret share one fetch, and a secret is force-refreshed at most once
// per MinForcedRefreshInterval (default 5s): calls in between get the cached
// value, so a source that always answers 401 cannot hammer Secrets Manager.
//
// # Errors
//
// Errors are *Error, matching (errors.Is) one of: secrets.ErrNotFound (no
// such secret, deleted or scheduled for deletion, or no such field),
// secrets.ErrAccessDenied (AssumeRole or GetSecretValue refused: trust
// policy, ExternalId, IAM or KMS policy), secrets.ErrUnavailable (network,
// timeout, 5xx, throttling; throttling also matches secrets.ErrThrottled), or
// secrets.ErrBadRef. An error names the operation and the AWS error code,
// never a secret value nor the text of an AWS answer.
package awssm
