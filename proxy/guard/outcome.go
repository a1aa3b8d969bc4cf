package guard

import "github.com/ferryhealth/ferry/unified"

// Fault is how a source call failed, for the breaker and the retry
// decision.
type Fault uint8

// The faults a source call records.
const (
	FaultNone     Fault = iota
	FaultConnect        // refused, reset, closed early, truncated or malformed answer
	FaultAnswer         // an answer Ferry will not take (larger than the limit)
	FaultTimeout        // the deadline passed waiting for the source
	FaultCanceled       // the request was cancelled (shutdown)
	FaultPool           // no free connection in Ferry's own pool: not the source's failure
)

// LastCall is what a request's source calls came to: how many there were,
// and the last one's answer (its status) or fault.
type LastCall struct {
	Calls  int
	Status int
	Fault  Fault
}

// Outcome is how a request that held a Ticket ended.
type Outcome struct {
	// Source is what its source calls came to.
	Source LastCall
	// Code is the problem the client got; "" when it was answered.
	Code unified.Code
	// Refused: the guard itself refused it (a Rejection, at admission or
	// on a source call), so the source was not asked.
	Refused bool
	// Shortened: the client asked for less than the connection's timeout.
	Shortened bool
}

// effect is what an Outcome does to the breaker.
type effect uint8

const (
	success  effect = iota
	failure         // counts against the source
	excluded        // does not count
)

// effect classifies the outcome for the breaker. The source's 5xx answers,
// timeouts and connection errors, unreadable answers, and a plugin that
// hangs until the deadline, are failures; 4xx answers are successes (the
// source is up). Requests that never reached the source, that the client
// shortened and then timed out, or that were cancelled do not count, nor
// do plugin crashes and errors: the plugin host restarts a crashed plugin
// at once, and a crash loop opens the breakers of all the plugin's
// connections by itself (Guard.Trip). Counting each crash here would turn
// one crash, which fails every call in flight at once, into an outage of
// open_for.
func (o Outcome) effect() effect {
	up := o.Source
	if up.Fault == FaultCanceled || up.Fault == FaultPool {
		return excluded
	}
	if o.Code == "" {
		if up.Status >= 500 {
			return failure // relayed (passthrough) or tolerated by the connector
		}
		return success
	}
	if o.Refused {
		return excluded
	}
	switch o.Code {
	case unified.CodeConnectorError, unified.CodeConnectorUnavailable:
		if up.Fault != FaultNone || up.Status >= 500 {
			return failure // the plugin failed because the source did
		}
		return excluded
	case unified.CodeSourceUnavailable:
		return failure
	case unified.CodeUpstreamTimeout:
		if o.Shortened {
			return excluded
		}
		return failure
	case unified.CodeUpstreamError:
		if up.Fault == FaultNone && up.Status >= 400 && up.Status < 500 {
			return success // the source answered; it refused Ferry's request
		}
		return failure
	case unified.CodeSourceRateLimited, unified.CodeCredentialsUnavailable, unified.CodeInternal, unified.CodeAuditUnavailable:
		return excluded
	}
	return success
}

// pluginFault reports whether a failed request failed in the plugin rather
// than at the source: it timed out, and the source was not what it was
// waiting for. An open breaker then answers connector_unavailable.
func (o Outcome) pluginFault() bool {
	if o.Code != unified.CodeUpstreamTimeout {
		return false
	}
	return o.Source.Calls == 0 || o.Source.Fault == FaultNone
}
