package proxy

import (
	"slices"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// A client's minimum-necessary policy (resources, operations, fields)
// and its purpose of use, checked by the authorize stage; the field
// policy is applied to the mask in restrict_query.

// checkPolicy refuses a resource or operation the client's policy does
// not allow, and passthrough when the policy narrows anything a raw
// request would bypass.
func (s *Server) checkPolicy(x *exchange) *verdict.Problem {
	pol := x.client.policy
	if pol == nil {
		return nil
	}
	switch {
	case x.route.template == routePassthrough && pol.Restricts():
		return s.refuse(x, refusedPolicy, unified.CodeInsufficientScope)
	case x.route.unified() && x.route.resource.Known() && !pol.Allows(x.route.resource, x.op()):
		return s.refuse(x, refusedPolicy, unified.CodeInsufficientScope)
	}
	return nil
}

// purposeHeader is where a client states its purpose of use when its
// token carries none.
const purposeHeader = "X-Purpose-Of-Use"

// checkPurpose reads the purpose of use (the token's claim, else the
// header) and holds it to the client's policy. Break-glass (BTG) is
// served only for clients allowed it, widens nothing, and flags the
// audit event for alerting; an attempt by any other client is refused,
// and flagged too.
func (s *Server) checkPurpose(x *exchange) *verdict.Problem {
	raw := x.rc.Request.Header.Peek(purposeHeader)
	if x.token != nil && x.token.PurposeOfUse != "" {
		raw = []byte(x.token.PurposeOfUse)
	}
	code, known := config.PurposeOfUseCode(raw)
	a := &x.authz
	a.purpose = code
	pol := x.client.purpose
	switch {
	case code == config.PurposeBreakGlass && (pol == nil || !pol.BreakGlass):
		a.alert = true
		return s.refusePurpose(x)
	case code == config.PurposeBreakGlass:
		a.breakGlass, a.alert = true, true
		s.metrics.breakGlassUsed(x.client.id)
		return nil
	case pol == nil:
		return nil
	case len(raw) > 0 && !known, pol.Required && code == "":
		return s.refusePurpose(x)
	case len(pol.Allowed) > 0 && code != "" && !slices.Contains(pol.Allowed, code):
		return s.refusePurpose(x)
	}
	return nil
}

func (s *Server) refusePurpose(x *exchange) *verdict.Problem {
	x.authz.refusal = refusedPurpose
	s.metrics.authzRefused(x.client.id, refusedPurpose)
	return verdict.Fail(unified.CodeForbidden, purposeHeader)
}
