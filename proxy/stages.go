package proxy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"

	"github.com/ferryhealth/ferry/proxy/identity"
	"github.com/ferryhealth/ferry/proxy/openapi"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// The stages that say who is asking for what: the request id, the route,
// the client, the connection, and what the client may do with it.

func (s *Server) assignRequestID(x *exchange) *verdict.Problem {
	if v := x.rc.Request.Header.Peek("X-Request-Id"); validRequestID(v) {
		x.requestID = string(v)
	} else {
		x.requestID = newRequestID()
	}
	return nil
}

// validRequestID accepts a caller's request id only if it is short and of a
// plain alphabet, so it cannot smuggle text into audit events.
func validRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) authenticate(x *exchange) *verdict.Problem {
	auth := x.rc.Request.Header.Peek("Authorization")
	key, ok := bytesCutPrefixFold(auth, "bearer ")
	if !ok || len(key) == 0 {
		return verdict.Fail(unified.CodeUnauthenticated, "")
	}
	if identity.LooksLikeJWT(key) && !x.tab.verifier.Empty() {
		p := s.authenticateToken(x, key)
		if p == nil {
			return nil
		}
		if x.tab.keys[sha256.Sum256(key)] == nil {
			s.metrics.tokenRefused()
			return p
		}
		// Not a token of any issuer, but an API key that happens to have
		// two dots.
		x.challenge = ""
	}
	d := sha256.Sum256(key)
	c := x.tab.keys[d]
	if c == nil {
		return verdict.Fail(unified.CodeUnauthenticated, "")
	}
	// The map lookup found the entry by digest; the compare is constant-time
	// anyway so a future change of index cannot turn into a timing oracle.
	if subtle.ConstantTimeCompare(c.digest[:], d[:]) != 1 {
		return verdict.Fail(unified.CodeUnauthenticated, "")
	}
	x.client = c
	return nil
}

func bytesCutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) {
		return nil, false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return nil, false
		}
	}
	return b[len(prefix):], true
}

func (s *Server) matchRoute(x *exchange) *verdict.Problem {
	r, ok := parsePath(x.rc.Path(), x.rc.URI().PathOriginal())
	if !ok {
		return verdict.Fail(unified.CodeNotFound, "")
	}
	x.route = r
	if r.public() {
		// The one public route is answered here: no later stage has
		// anything to say about it (there is no client).
		if !x.rc.IsGet() {
			return verdict.Fail(unified.CodeMethodNotAllowed, "")
		}
		x.rc.Response.Header.SetContentType("application/json")
		x.rc.SetBody(openapi.Document())
		x.answered = true
		return nil
	}
	if r.template == routePassthrough {
		if !passthroughMethods[string(x.rc.Method())] {
			return verdict.Fail(unified.CodeMethodNotAllowed, "")
		}
		return nil
	}
	if w, ok := writeRoute(r, x.rc.Method()); ok {
		x.route = w
		return nil
	}
	if !x.rc.IsGet() {
		return verdict.Fail(unified.CodeMethodNotAllowed, "")
	}
	return nil
}

func (s *Server) resolveConnection(x *exchange) *verdict.Problem {
	cn, ok := x.tab.connections[x.route.connectionID]
	// Another tenant's connection answers exactly like a missing one, so a
	// client cannot probe which connection ids exist.
	if !ok || cn.cfg.Tenant != x.client.tenant {
		return verdict.Fail(unified.CodeConnectionNotFound, "")
	}
	if !x.client.allowed[cn.cfg.ID] {
		return verdict.Fail(unified.CodeForbidden, "")
	}
	x.conn = cn
	return nil
}

// admitAudit refuses a request that would touch a tenant's data when the
// tenant's audit trail cannot take its event (policy "block": no sink has
// accepted and the queue is full). Unaudited access to PHI is worse than
// none; the refusal itself is still emitted, into a reserve kept for it.
//
// A tenant whose audit key has not been read yet (its role cannot be
// assumed, its secret is missing: tenantKeys keeps trying) is refused with
// 503 credentials_unavailable: its events could not name patients the way
// its trail does, and its credentials would fail the same way.
func (s *Server) admitAudit(x *exchange) *verdict.Problem {
	if x.conn == nil {
		return nil
	}
	if t := x.tab.tenants[x.conn.cfg.Tenant]; t == nil || !t.keyed() {
		return verdict.Fail(unified.CodeCredentialsUnavailable, "")
	}
	if err := s.audit.Admit(x.conn.cfg.Tenant); err != nil {
		return verdict.Fail(unified.CodeAuditUnavailable, "")
	}
	return nil
}
