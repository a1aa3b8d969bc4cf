package config

import (
	"fmt"
	"strings"
	"testing"
)

// authzDoc is validDoc with tenant acme trusting issuers and client app
// carrying the given fields.
func authzDoc(issuers string, client string) []byte {
	doc := fmt.Sprintf(validDoc, hexA, hexB)
	doc = strings.Replace(doc, `"audit": {"key_ref": "env:ACME_AUDIT"}}`, `"audit": {"key_ref": "env:ACME_AUDIT"}, "issuers": `+issuers+`}`, 1)
	return []byte(strings.Replace(doc, `"connections": ["epic"]}`, `"connections": ["epic"]`+client+`}`, 1))
}

func TestAuthorizationConfig(t *testing.T) {
	good := `[{"issuer": "https://idp.example", "jwks_url": "https://idp.example/jwks", "audience": "https://ferry.example"}]`
	c, probs := Parse(authzDoc(good, `, "oauth_client_id": "app-1", "smart_scopes": ["system/Observation.rs?category=vital-signs"],
		"policy": {"resources": ["patients"], "operations": ["read"], "fields": {"patients": {"deny": ["identifiers"]}},
		           "purpose_of_use": {"required": true, "allowed": ["TREAT", "BTG"], "break_glass": true}}`), "")
	if len(probs) > 0 {
		t.Fatalf("valid authorization config refused: %v", probs)
	}
	is := c.Tenants[0].Issuers[0]
	if is.ClockSkew.D() != DefaultClockSkew || is.PatientClaim != "patient" || len(is.Algorithms) != 2 {
		t.Fatalf("issuer defaults: %+v", is)
	}

	bad := `[{"issuer": "http://idp.example", "jwks_url": "ftp://x", "audience": "", "algorithms": ["HS256", "none"],
	          "clock_skew": "1h", "jwks_refetch_interval": "1ms", "patient_claim": "a b"},
	         {"issuer": "https://idp.example", "jwks_url": "https://idp.example/jwks", "audience": "x"},
	         {"issuer": "https://idp.example", "jwks_url": "https://idp.example/jwks", "audience": "x"}]`
	_, probs = Parse(authzDoc(bad, `, "oauth_client_id": "app-1", "smart_scopes": ["system/Spaceship.rs", "openid"],
		"policy": {"resources": ["spaceships"], "operations": ["launch"], "fields": {"patients": {"allow": ["names"], "deny": ["id"]}, "x": {"allow": ["y"]}},
		           "purpose_of_use": {"allowed": ["BTG", "NOPE"]}}`), "")
	want := []string{
		"$.tenants[0].issuers[0].jwks_url", "$.tenants[0].issuers[0].audience",
		"$.tenants[0].issuers[0].algorithms[0]", "$.tenants[0].issuers[0].algorithms[1]",
		"$.tenants[0].issuers[0].clock_skew", "$.tenants[0].issuers[0].jwks_refetch_interval",
		"$.tenants[0].issuers[0].patient_claim", "$.tenants[0].issuers[2]",
		"$.clients[0].smart_scopes[0]", "$.clients[0].smart_scopes[1]",
		"$.clients[0].policy.resources[0]", "$.clients[0].policy.operations[0]",
		"$.clients[0].policy.fields.patients", "$.clients[0].policy.fields.patients.deny[0]", "$.clients[0].policy.fields.x",
		"$.clients[0].policy.purpose_of_use.allowed[0]", "$.clients[0].policy.purpose_of_use.allowed[1]",
	}
	got := map[string]bool{}
	for _, p := range probs {
		got[p.Path] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no problem at %s; got %v", w, probs)
		}
	}
	// oauth_client_id needs an issuer of the tenant.
	_, probs = Parse(authzDoc(`[]`, `, "oauth_client_id": "app-1"`), "")
	if len(probs) != 1 || probs[0].Path != "$.clients[0].oauth_client_id" {
		t.Fatalf("a token client of a tenant without issuers: %v", probs)
	}
}
