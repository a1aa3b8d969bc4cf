package config

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	testRoleA = "arn:aws:iam::222222222222:role/ferry-reader"
	testARN   = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:ferry/epic-a1B2c3"
	// A value pasted into a reference field by mistake; no problem message
	// may repeat it.
	pastedSecret = "PASTED-secret-77c1e0"
)

// awsDoc is a valid config with one aws tenant and every auth kind.
func awsDoc(mutate func(m map[string]any)) []byte {
	conn := func(id string, auth map[string]any) map[string]any {
		return map[string]any{"id": id, "tenant": "acme", "connector": "fhir", "base_url": "https://fhir.example/R4", "region": "eu", "auth": auth}
	}
	m := map[string]any{
		"node": map[string]any{"region": "us"},
		"regions": []any{
			map[string]any{"name": "us", "endpoint": "https://us.ferry.example", "aws_regions": []string{"us-east-1"}},
			map[string]any{"name": "eu", "endpoint": "https://eu.ferry.example", "aws_regions": []string{"eu-west-1"}},
		},
		"plugins": []any{map[string]any{"kind": "fhir", "path": "/bin/x", "sha256": hexA}},
		"cursor":  map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:CURSOR_KEY"}}},
		"tenants": []any{map[string]any{
			"id": "acme", "home_region": "eu",
			"secrets": map[string]any{"provider": "aws", "region": "eu-west-1", "role_arn": testRoleA,
				"external_id": "ext-acme-1"},
			"audit": map[string]any{"key_ref": testARN + "#audit_key"},
		}},
		"clients": []any{map[string]any{"id": "app", "tenant": "acme", "api_key_sha256": hexB, "connections": []string{"c0"}}},
		"connections": []any{
			conn("c0", map[string]any{"kind": "none"}),
			conn("c1", map[string]any{"kind": "bearer", "secret_ref": testARN + "#token"}),
			conn("c2", map[string]any{"kind": "basic", "secret_ref": testARN}),
			conn("c3", map[string]any{"kind": "api_key", "secret_ref": testARN + "#api_key", "header": "X-Key"}),
			conn("c4", map[string]any{"kind": "oauth2_client_credentials", "secret_ref": testARN,
				"token_url": "https://auth.example/token", "scopes": []string{"system/*.read"}}),
			conn("c5", map[string]any{"kind": "smart_backend_services", "secret_ref": testARN,
				"token_url": "https://ehr.example/oauth2/token", "client_id": "ferry-acme",
				"scopes": []string{"system/Patient.rs"}, "algorithm": "ES384", "key_id": "2026-01"}),
		},
	}
	if mutate != nil {
		mutate(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func tenant0(m map[string]any) map[string]any { return m["tenants"].([]any)[0].(map[string]any) }
func secrets0(m map[string]any) map[string]any {
	return tenant0(m)["secrets"].(map[string]any)
}
func auth(m map[string]any, i int) map[string]any {
	return m["connections"].([]any)[i].(map[string]any)["auth"].(map[string]any)
}

func TestAWSSecretsValidAndDefaults(t *testing.T) {
	c, probs := Parse(awsDoc(nil), "")
	if len(probs) > 0 {
		t.Fatalf("valid config rejected: %v", probs)
	}
	s := c.Tenants[0].Secrets
	if s.CacheTTL.D() != DefaultSecretsCacheTTL || s.Endpoint != "" {
		t.Fatalf("defaults: %+v", s)
	}
	if c.Connections[4].Auth.ClientAuth != ClientSecretBasic {
		t.Fatalf("client_auth default: %q", c.Connections[4].Auth.ClientAuth)
	}
	// Endpoints an emulator or a VPC endpoint may use.
	for _, ep := range []string{"http://127.0.0.1:5000", "http://localhost:4566", "http://[::1]:5000", "https://vpce-1.secretsmanager.eu-west-1.vpce.amazonaws.com"} {
		if _, probs := Parse(awsDoc(func(m map[string]any) { secrets0(m)["endpoint"] = ep; secrets0(m)["cache_ttl"] = "30s" }), ""); len(probs) > 0 {
			t.Errorf("endpoint %s: %v", ep, probs)
		}
	}
	// http token URLs with dev_mode or the connection's allow_insecure_http.
	for _, f := range []func(map[string]any){
		func(m map[string]any) { m["dev_mode"] = true },
		func(m map[string]any) { m["connections"].([]any)[5].(map[string]any)["allow_insecure_http"] = true },
	} {
		doc := awsDoc(func(m map[string]any) { f(m); auth(m, 5)["token_url"] = "http://127.0.0.1:9/token" })
		if _, probs := Parse(doc, ""); len(probs) > 0 {
			t.Errorf("http token url allowed: %v", probs)
		}
	}
}

// TestSecretsAndAuthProblems: one broken document, every problem at its
// path and nothing else, no message repeating what was pasted into a
// reference.
func TestSecretsAndAuthProblems(t *testing.T) {
	doc := awsDoc(func(m map[string]any) {
		s := secrets0(m)
		s["endpoint"] = "http://10.0.0.5:5000"
		s["cache_ttl"] = "2h"
		m["tenants"] = append(m["tenants"].([]any),
			// env outside dev_mode, with aws fields.
			map[string]any{
				"id": "beta", "home_region": "eu", "secrets": map[string]any{"provider": "env", "region": "eu-west-1"},
				"audit": map[string]any{"key_ref": "literal:" + pastedSecret},
			},
			// aws with nothing right.
			map[string]any{
				"id": "gamma", "home_region": "eu", "secrets": map[string]any{"provider": "aws", "region": "Europe", "role_arn": "arn:aws:iam::12:user/x", "external_id": "x"},
				"audit": map[string]any{"key_ref": "arn:aws:secretsmanager:eu-west-1:222222222222:secret:ferry/epic"},
			})
		auth(m, 1)["secret_ref"] = "env:" + pastedSecret                                       // not an ARN, for an aws tenant
		auth(m, 2)["secret_ref"] = strings.Replace(testARN, "222222222222", "333333333333", 1) // another account
		auth(m, 3)["secret_ref"] = strings.Replace(testARN, "eu-west-1", "us-east-1", 1)       // another region
		auth(m, 3)["token_url"] = "https://x.example/t"                                        // not for api_key
		auth(m, 4)["token_url"] = "http://auth.example/token"                                  // http, not allowed
		auth(m, 4)["client_auth"] = "private_key_jwt"
		auth(m, 4)["algorithm"] = "RS384" // smart only
		auth(m, 5)["client_id"] = ""
		auth(m, 5)["scopes"] = []string{"bad scope"}
		auth(m, 5)["algorithm"] = "HS256"
		m["connections"] = append(m["connections"].([]any),
			map[string]any{
				"id": "c6", "tenant": "acme", "connector": "fhir", "base_url": "https://fhir.example/R4",
				"auth": map[string]any{"kind": "smart_backend_services", "secret_ref": testARN, "token_url": "https://u:p@ehr.example/t"},
			},
			map[string]any{
				"id": "c7", "tenant": "acme", "connector": "fhir", "base_url": "https://fhir.example/R4",
				"auth": map[string]any{"kind": "kerberos"},
			})
	})
	want := map[string]string{
		"$.tenants[0].secrets.endpoint":     "http on 127.0.0.1",
		"$.tenants[0].secrets.cache_ttl":    "between",
		"$.tenants[1].secrets.provider":     "dev_mode",
		"$.tenants[1].secrets.region":       `only for provider "aws"`,
		"$.tenants[1].audit.key_ref":        "dev_mode",
		"$.tenants[2].secrets.region":       "AWS region",
		"$.tenants[2].secrets.role_arn":     "role ARN",
		"$.tenants[2].secrets.external_id":  "2 to 1224",
		"$.tenants[2].audit.key_ref":        "suffix",
		"$.connections[1].auth.secret_ref":  "want a secret ARN",
		"$.connections[2].auth.secret_ref":  "account 333333333333",
		"$.connections[3].auth.secret_ref":  "region us-east-1",
		"$.connections[3].auth.token_url":   "not used",
		"$.connections[4].auth.token_url":   "http is refused",
		"$.connections[4].auth.client_auth": "client_secret_post",
		"$.connections[4].auth.algorithm":   "not used",
		"$.connections[5].auth.client_id":   "required",
		"$.connections[5].auth.scopes[0]":   "scope token",
		"$.connections[5].auth.algorithm":   "RS384",
		"$.connections[6].auth.token_url":   "credentials",
		"$.connections[6].auth.client_id":   "required",
		"$.connections[6].auth.scopes":      "at least one",
		"$.connections[7].auth.kind":        "unknown kind",
	}
	_, probs := Parse(doc, "")
	got := map[string]string{}
	for _, p := range probs {
		got[p.Path] += p.Message + "; "
		if strings.Contains(p.Message, pastedSecret) || strings.Contains(p.Message, "u:p") {
			t.Errorf("a pasted secret echoed in %v", p)
		}
		if _, ok := want[p.Path]; !ok {
			t.Errorf("unexpected problem %v", p)
		}
	}
	for path, w := range want {
		if !strings.Contains(got[path], w) {
			t.Errorf("at %s: got %q, want a problem mentioning %q", path, got[path], w)
		}
	}
}

// TestEnvTenantKeepsEnvReferences: dev_mode's env tenants take env: and
// literal: references, and ARNs are refused for them (no provider could
// resolve them).
func TestEnvTenantKeepsEnvReferences(t *testing.T) {
	doc := awsDoc(func(m map[string]any) {
		m["dev_mode"] = true
		tenant0(m)["secrets"] = map[string]any{"provider": "env"}
		tenant0(m)["audit"] = map[string]any{"key_ref": "env:AUDIT"}
		for i := range 6 {
			if i > 0 {
				auth(m, i)["secret_ref"] = "literal:x"
			}
		}
	})
	if _, probs := Parse(doc, ""); len(probs) > 0 {
		t.Fatalf("env tenant: %v", probs)
	}
	doc = awsDoc(func(m map[string]any) {
		m["dev_mode"] = true
		tenant0(m)["secrets"] = map[string]any{"provider": "env"}
		tenant0(m)["audit"] = map[string]any{"key_ref": "env:AUDIT"}
	})
	_, probs := Parse(doc, "")
	if len(probs) != 5 {
		t.Fatalf("ARNs for an env tenant: %v", probs)
	}
	for _, p := range probs {
		if !strings.HasSuffix(p.Path, ".auth.secret_ref") || !strings.Contains(p.Message, "unknown reference scheme") {
			t.Errorf("%v", p)
		}
	}
}
