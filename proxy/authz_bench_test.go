//go:build unix

package proxy

import (
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/valyala/fasthttp"
)

// BenchmarkAuthorization is what authorization costs a request on the hot
// path: the stages from the route to restrict_query, with a warm-cache
// access token (SMART scopes, a policy with a field rule, a purpose of
// use) beside the same request with an API key and no grant. Target: the
// token's stages within 5 µs. go test ./proxy -run XXX -bench Authorization
func BenchmarkAuthorization(b *testing.B) {
	ti := startTestIssuer(b)
	e := start(b, func(c map[string]any) {
		tenants := c["tenants"].([]any)
		tenants[1].(map[string]any)["issuers"] = []any{issuerCfg(ti.url, ti.url, audOther)}
		c["clients"] = append(c["clients"].([]any),
			map[string]any{"id": "other-svc", "tenant": "other", "oauth_client_id": "other-svc", "connections": []string{"other"},
				"policy": map[string]any{"operations": []string{"read", "search"}, "purpose_of_use": map[string]any{"required": true},
					"fields": map[string]any{"patients": map[string]any{"deny": []string{"identifiers"}}}}})
	})
	tok := ti.sign(b, map[string]any{"scope": "system/Observation.rs?category=vital-signs system/Patient.rs", "purpose_of_use": "TREAT"}, jose.RS256, ti.key, "test-1")
	run := func(b *testing.B, conn, cred string) {
		rc := &fasthttp.RequestCtx{}
		rc.Request.SetRequestURI("/v1/" + conn + "/observations?patient_id=p1&category=vital-signs")
		rc.Request.Header.Set("Authorization", "Bearer "+cred)
		b.ReportAllocs()
		for b.Loop() {
			x := exchange{rc: rc}
			for _, st := range pipeline {
				if st.name == "rate_limit" || st.name == "admit_audit" || st.name == "deadline" {
					continue
				}
				if st.name == "admit_connection" {
					break
				}
				if p := st.run(e.srv, &x); p != nil {
					b.Fatalf("%s: %s", st.name, p.Code)
				}
			}
		}
	}
	// Authorization alone: authenticate (the token's hash and cache
	// lookup, or the key's), authorize and restrict_query, on an exchange
	// the other stages have already prepared.
	only := func(b *testing.B, cred string) {
		rc := &fasthttp.RequestCtx{}
		rc.Request.SetRequestURI("/v1/other/observations?patient_id=p1&category=vital-signs")
		rc.Request.Header.Set("Authorization", "Bearer "+cred)
		x0 := exchange{rc: rc}
		for _, st := range pipeline[:len(pipeline)-3] {
			if p := st.run(e.srv, &x0); p != nil {
				b.Fatalf("%s: %s", st.name, p.Code)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			x := exchange{rc: rc, requestID: x0.requestID, route: x0.route, conn: x0.conn, q: x0.q}
			if p := e.srv.authenticate(&x); p != nil {
				b.Fatal(p.Code)
			}
			if p := e.srv.authorize(&x); p != nil {
				b.Fatal(p.Code)
			}
			if p := e.srv.restrictQuery(&x); p != nil {
				b.Fatal(p.Code)
			}
		}
	}
	b.Run("stages/api_key", func(b *testing.B) { run(b, "other", keyOther) })
	b.Run("stages/token", func(b *testing.B) { run(b, "other", tok) })
	b.Run("authorization/api_key", func(b *testing.B) { only(b, keyOther) })
	b.Run("authorization/token", func(b *testing.B) { only(b, tok) })
}
