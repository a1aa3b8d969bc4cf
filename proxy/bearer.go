package proxy

import (
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// OAuth 2.0 access tokens (RFC 9068) beside API keys: the authenticate
// stage hands a credential shaped like a JWT here. proxy/identity checks
// it against the tenants' issuers; the client it names is looked up in
// the issuer's tenant only.

// Bearer challenges (RFC 6750 §3), sent with 401 and with scope refusals.
const (
	challengeNone              = `Bearer realm="ferry"`
	challengeInvalidToken      = `Bearer realm="ferry", error="invalid_token"`
	challengeInsufficientScope = `Bearer realm="ferry", error="insufficient_scope"`
)

func (s *Server) authenticateToken(x *exchange, raw []byte) *verdict.Problem {
	x.challenge = challengeInvalidToken
	// The request's deadline is not known yet (it depends on the
	// connection); a refetch of a key set is bounded by identity's own
	// fetch timeout, and ends with the server.
	t, err := x.tab.verifier.Verify(s.baseCtx, raw)
	if err != nil {
		return verdict.Fail(unified.CodeUnauthenticated, "")
	}
	c := x.tab.tokenClients[[2]string{t.Tenant, t.ClientID}]
	if c == nil {
		return verdict.Fail(unified.CodeUnauthenticated, "")
	}
	x.client, x.token = c, t
	x.challenge = ""
	s.metrics.tokenAccepted()
	return nil
}

// writeChallenge adds the Bearer challenge a refusal calls for.
func (x *exchange) writeChallenge(p *verdict.Problem) {
	switch {
	case p.Code == unified.CodeUnauthenticated && x.challenge == "":
		x.rc.Response.Header.Set("WWW-Authenticate", challengeNone)
	case p.Code == unified.CodeUnauthenticated:
		x.rc.Response.Header.Set("WWW-Authenticate", x.challenge)
	case p.Code == unified.CodeInsufficientScope:
		x.rc.Response.Header.Set("WWW-Authenticate", challengeInsufficientScope)
	}
}
