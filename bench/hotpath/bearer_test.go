package hotpath

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/bench/harness"
	"github.com/ferryhealth/ferry/proxy/config"
)

// BenchmarkW1Credential is W1 in-process with the client's API key and
// with an OAuth access token (warm validation cache, SMART scopes, a
// policy), side by side in one run, so their ratio is what the token
// costs a whole request (target: within 5%).
//
// go test -run '^$' -bench W1Credential -count 10 ./bench/hotpath/
func BenchmarkW1Credential(b *testing.B) {
	fix, err := fixture()
	if err != nil {
		b.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}}})
	}))
	defer jwks.Close()
	doc := harness.FerryConfig("127.0.0.1:0", "127.0.0.1:1", "/nonexistent", "aaaa"+"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "http://"+fix.Addr()+harness.FHIRPrefix, 1)
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	m["tenants"].([]any)[0].(map[string]any)["issuers"] = []any{map[string]any{
		"issuer": jwks.URL, "jwks_url": jwks.URL, "audience": "ferry", "allow_private_network": true}}
	m["clients"] = append(m["clients"].([]any), map[string]any{"id": "svc", "tenant": "t0", "oauth_client_id": "svc",
		"connections": []string{harness.ConnID(0)}, "policy": map[string]any{"operations": []string{"read", "search"}}})
	doc, _ = json.Marshal(m)
	cfg, probs := config.Parse(doc, "")
	if len(probs) > 0 {
		b.Fatal(probs)
	}
	g := serveGateway(b, fix, cfg, false)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k"))
	now := time.Now()
	tok, _ := jwt.Signed(signer).Claims(map[string]any{"iss": jwks.URL, "aud": "ferry", "client_id": "svc", "sub": "svc",
		"scope": "system/Patient.rs system/Observation.rs", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).Serialize()

	// paired alternates the two credentials request by request, so drift
	// on a shared machine falls on both alike; it reports each one's mean
	// and their ratio.
	b.Run("paired", func(b *testing.B) {
		keyReq, tokReq := g.request("/v1/c0/patients/p-1"), g.request("/v1/c0/patients/p-1")
		tokReq.Header.Set("Authorization", "Bearer "+tok)
		defer fasthttp.ReleaseRequest(keyReq)
		defer fasthttp.ReleaseRequest(tokReq)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		g.get(b, tokReq, resp)
		var keyT, tokT time.Duration
		for i := 0; b.Loop(); i++ {
			first, second, ft, st := keyReq, tokReq, &keyT, &tokT
			if i%2 == 1 {
				first, second, ft, st = tokReq, keyReq, &tokT, &keyT
			}
			t0 := time.Now()
			g.get(b, first, resp)
			t1 := time.Now()
			g.get(b, second, resp)
			*ft += t1.Sub(t0)
			*st += time.Since(t1)
		}
		b.ReportMetric(float64(keyT.Nanoseconds())/float64(b.N), "api_key-ns/req")
		b.ReportMetric(float64(tokT.Nanoseconds())/float64(b.N), "bearer-ns/req")
		b.ReportMetric(float64(tokT)/float64(keyT), "bearer/api_key")
	})
	for _, c := range []struct{ name, auth string }{{"api_key", g.auth}, {"bearer", "Bearer " + tok}} {
		b.Run(c.name, func(b *testing.B) {
			req := g.request("/v1/c0/patients/p-1")
			req.Header.Set("Authorization", c.auth)
			defer fasthttp.ReleaseRequest(req)
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseResponse(resp)
			g.get(b, req, resp)
			b.ReportAllocs()
			for b.Loop() {
				g.get(b, req, resp)
			}
		})
	}
}
