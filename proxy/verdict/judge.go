package verdict

import (
	"errors"
	"slices"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/unified"
)

// Facts are what Judge weighs besides the error.
type Facts struct {
	// Source is what the request's source calls recorded.
	Source source.Snapshot
	// Capability is the manifest entry of the request's resource: its
	// search parameters are names a detail may echo.
	Capability connectors.ResourceCapability
	// Now and Deadline tell a plugin refused at once (backing off) from
	// one that did not come up in time.
	Now, Deadline time.Time
}

// Judge turns a connector's or the host transport's error into the
// client's problem. Nothing of the error's text is used. A refusal of the
// guard keeps its code and Retry-After; a source that answered 429 or 503
// is reported as such, whatever the connector made of it.
func Judge(err error, f Facts) *Problem {
	var rj *guard.Rejection
	if errors.As(err, &rj) {
		return Refused(rj)
	}
	return throttled(coded(err, f), f.Source)
}

// coded maps an error's code to a problem.
func coded(err error, f Facts) *Problem {
	if errors.Is(err, connectors.ErrPluginUnavailable) {
		p := Fail(unified.CodeConnectorUnavailable, "")
		if f.Now.Before(f.Deadline) {
			p.Cause = CausePluginDown
		}
		return p
	}
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		return Fail(unified.CodeConnectorError, "")
	}
	switch ce.Code {
	case connectors.CodeNotFound:
		return Fail(unified.CodeNotFound, "")
	case connectors.CodeInvalidArgument:
		return Fail(unified.CodeInvalidParameter, Detail(f.Capability, ce.Param))
	case connectors.CodeUnsupported:
		return Fail(unified.CodeUnsupported, Detail(f.Capability, ce.Param))
	case connectors.CodeUpstream:
		return Fail(unified.CodeUpstreamError, "")
	case connectors.CodeUpstreamTimeout:
		return Fail(unified.CodeUpstreamTimeout, "")
	case connectors.CodeSourceUnavailable:
		return Fail(unified.CodeSourceUnavailable, "")
	case connectors.CodeCredentialsUnavailable:
		return Fail(unified.CodeCredentialsUnavailable, "")
	case connectors.CodeVersionConflict:
		p := Fail(unified.CodeVersionConflict, "")
		if connectors.ValidVersion(ce.Version) {
			p.ETag = ETag(ce.Version)
		}
		return p
	case connectors.CodeIdempotencyKeyReused:
		return Fail(unified.CodeIdempotencyKeyReused, "")
	case connectors.CodeRejected:
		return Fail(unified.CodeWriteRejected, "")
	}
	return Fail(unified.CodeConnectorError, "")
}

// ETag is a source version as an HTTP entity tag: weak, as FHIR writes it
// (W/"3"), since Ferry's JSON is not the source's bytes.
func ETag(version string) string { return `W/"` + version + `"` }

// throttled is the answer the client should get when the source itself
// asked to slow down: a source 429 is 503 source_rate_limited, a 503 is
// source_unavailable, both with the source's Retry-After (clamped). The
// connector saw only a status.
func throttled(p *Problem, up source.Snapshot) *Problem {
	if up.Throttled == 0 || up.Fault != guard.FaultNone {
		return p
	}
	switch p.Code {
	case unified.CodeUpstreamError, unified.CodeConnectorError, unified.CodeSourceUnavailable:
	default:
		return p
	}
	code := unified.CodeSourceUnavailable
	if up.Throttled == 429 {
		code = unified.CodeSourceRateLimited
	}
	return &Problem{Code: code, RetryAfter: max(up.RetryAfter, time.Second)}
}

// Detail names a parameter in a problem's detail only when it is one the
// API defines: a reserved parameter, a standard filter, or one of the
// resource's declared filters. A name the client made up, or a connector
// passed on, is free text, and may be PHI typed into the wrong place.
func Detail(capab connectors.ResourceCapability, name string) string {
	if capab.Accepts(name) || slices.Contains(unified.ReservedParams, name) {
		return name
	}
	if _, ok := unified.StandardFilter(name); ok {
		return name
	}
	return ""
}
