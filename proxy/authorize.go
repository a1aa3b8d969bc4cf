package proxy

import (
	"github.com/ferryhealth/ferry/proxy/authz"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/identity"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// What a client may see: the authorize stage checks the route against the
// client's coarse scopes (read, passthrough) and against its SMART grants
// (a token's scopes, the client's smart_scopes); restrict_query, once the
// query is parsed, forces the grant's restriction and the patient
// compartment on it; dispatch checks every record against them
// (x.authz.admits).

// authzState is what authorization decided for one exchange.
type authzState struct {
	// grants are the SMART grants that must all allow the request: the
	// token's and the client's configured ones. None: an API key client
	// without smart_scopes, limited by its coarse scopes only.
	grants [2]*authz.Grant
	// ngrants is how many of grants are set: a fixed array, so a request
	// allocates nothing for them.
	ngrants int
	// filters are forced on the search and checked on every record.
	filters []authz.Filter
	// patient is the compartment's patient: records of any other patient
	// are answered like missing ones. "" outside a compartment.
	patient string
	// compartment binds cursors: the token's patient whenever its grant
	// has patient/ scopes.
	compartment string
	// refusal is why authorization refused, for metrics and the audit
	// event ("" when it did not).
	refusal string
	// empty answers the search with an empty page without calling the
	// source: what a search for a missing patient answers.
	empty bool
	// ownPatient answers a compartment's patients search with a read of
	// its patient.
	ownPatient bool
	// purpose is the HL7 PurposeOfUse code the client declared (its
	// token's claim, else X-Purpose-Of-Use); breakGlass says it was BTG
	// and allowed, alert that the event must be flagged for alerting.
	purpose    string
	breakGlass bool
	alert      bool
}

func (a *authzState) addGrant(g *authz.Grant) {
	a.grants[a.ngrants] = g
	a.ngrants++
}

// tokenGrant parses a token's scopes once, when it is validated.
func tokenGrant(t *identity.Token) any {
	g := authz.NewGrant(t.Scopes)
	return &g
}

// authorize checks the client's scopes for the route: unified reads and
// capabilities need "read", creates and updates "write", passthrough
// "passthrough"; a client
// with SMART grants needs one that covers the resource and operation,
// and passthrough only with unrestricted system access.
func (s *Server) authorize(x *exchange) *verdict.Problem {
	switch {
	case x.route.template == routePassthrough:
		if !x.client.scopes[config.ScopePassthrough] {
			return verdict.Fail(unified.CodeForbidden, "")
		}
	case x.route.write():
		if !x.client.scopes[config.ScopeWrite] {
			return verdict.Fail(unified.CodeForbidden, "")
		}
	default:
		if !x.client.scopes[config.ScopeRead] {
			return verdict.Fail(unified.CodeForbidden, "")
		}
	}
	if p := s.checkPurpose(x); p != nil {
		return p
	}
	if p := s.checkPolicy(x); p != nil {
		return p
	}
	a := &x.authz
	if x.token != nil {
		g, _ := x.token.Grant.(*authz.Grant)
		if g == nil {
			return verdict.Fail(unified.CodeInternal, "")
		}
		a.addGrant(g)
		if g.HasPatientScopes() {
			a.compartment = x.token.Patient
		}
	}
	if x.client.grant != nil {
		a.addGrant(x.client.grant)
	}
	if a.ngrants == 0 {
		return nil
	}
	switch x.route.template {
	case routePassthrough:
		// A raw request reaches anything of the source: only a grant
		// that already reaches everything may make one, never a token
		// confined to a patient.
		for _, g := range a.grants[:a.ngrants] {
			if !g.Passthrough() || a.compartment != "" {
				return s.refuse(x, refusedScope, unified.CodeInsufficientScope)
			}
		}
	case routeRead, routeSearch, routeChanges, routeCreate, routeUpdate:
		if !x.route.resource.Known() {
			return nil // parse_query answers 404
		}
		for _, g := range a.grants[:a.ngrants] {
			if _, ok := g.Allow(x.route.resource, x.op(), nil); !ok {
				return s.refuse(x, refusedScope, unified.CodeInsufficientScope)
			}
		}
	}
	return nil
}

// op is the route's operation, as scopes name them.
func (x *exchange) op() authz.Op {
	switch x.route.template {
	case routeRead:
		return authz.OpRead
	case routeCreate:
		return authz.OpCreate
	case routeUpdate:
		return authz.OpUpdate
	}
	return authz.OpSearch
}

// refuse ends a request authorization refused, counted and audited with
// its reason.
func (s *Server) refuse(x *exchange, reason string, code unified.Code) *verdict.Problem {
	x.authz.refusal = reason
	s.metrics.authzRefused(x.client.id, reason)
	return verdict.Fail(code, "")
}
