//go:build unix

package testpeer

import (
	"strings"
	"testing"
)

// TestOIDCIssuesJWTAccessTokens checks the peer issues RFC 9068 tokens and
// rotates its keys. Run alone: go test ./internal/testpeer -run OIDC
func TestOIDCIssuesJWTAccessTokens(t *testing.T) {
	p := StartOIDC(t, OIDCOptions{Audience: "https://ferry.test", Scopes: "system/Patient.rs patient/Observation.rs",
		Clients: []OIDCClient{{ID: "backend", Scope: "system/Patient.rs", Claims: map[string]any{"patient": "p1"}}}})
	tok := p.Token(t, "backend", "system/Patient.rs")
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("not a JWT: %q", tok)
	}
	first := p.Kids[0]
	p.Rotate(t)
	if len(p.Kids) != 2 || p.Kids[1] != first {
		t.Fatalf("rotate: kids %v", p.Kids)
	}
	p.Retire(t)
	if len(p.Kids) != 1 || p.Kids[0] == first {
		t.Fatalf("retire: kids %v", p.Kids)
	}
	_ = p.Token(t, "backend", "system/Patient.rs")
}
