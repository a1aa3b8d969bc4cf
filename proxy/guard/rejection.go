package guard

import (
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// Rejection is a request or a source call refused by the guard, before it
// reached the source. Inside a request it travels as the Err of a
// *connectors.Error, so a connector passes it back like any transport
// error, and the host (which keeps its own record of what its transport
// returned) finds it again.
type Rejection struct {
	// Code is what the client is answered.
	Code unified.Code
	// RetryAfter is when the refusal ends, as far as the guard knows.
	RetryAfter time.Duration
	// Reason is the metrics label: one of the Reason constants.
	Reason string
}

func (r *Rejection) Error() string { return "ferry: refused by the connection's " + r.Reason }

// The rejection reasons, as metrics labels.
const (
	ReasonBreaker    = "breaker"
	ReasonBulkhead   = "bulkhead"
	ReasonRate       = "rate"
	ReasonRetryAfter = "source_retry_after"
)
