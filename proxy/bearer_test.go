//go:build unix

package proxy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// Access tokens from a real authorization server (npm oidc-provider, with
// discovery, JWKS and key rotation of its own) and an attack table of
// crafted tokens against an issuer this test serves. Run alone:
// go test ./proxy -run Bearer

const (
	audDemo  = "https://ferry.test/demo"
	audOther = "https://ferry.test/other"
)

// testIssuer is an issuer this test controls, for tokens no real server
// would sign: its JWKS publishes pub; the test signs with key.
type testIssuer struct {
	url string
	key *rsa.PrivateKey
}

func startTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ti := &testIssuer{key: k}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "test-1", Algorithm: "RS256", Use: "sig"}}})
	}))
	t.Cleanup(srv.Close)
	ti.url = srv.URL
	return ti
}

// claims is a token's payload; sign fills what the caller left out with
// what a valid token of this issuer carries.
func (ti *testIssuer) sign(t testing.TB, c map[string]any, alg jose.SignatureAlgorithm, key any, kid string) string {
	t.Helper()
	now := time.Now()
	full := map[string]any{"iss": ti.url, "aud": audOther, "sub": "other-svc", "client_id": "other-svc",
		"scope": "system/*.rs", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "j"}
	for k, v := range c {
		if v == nil {
			delete(full, k)
		} else {
			full[k] = v
		}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(full).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func issuerCfg(iss, jwks, aud string) map[string]any {
	return map[string]any{"issuer": iss, "jwks_url": jwks, "audience": aud, "allow_private_network": true,
		"jwks_refetch_interval": "1s", "jwks_refresh_interval": "1s"}
}

// startWithIssuers runs the proxy with tenant demo trusting the OIDC peer
// and tenant other trusting ti, each with a token client; more may change
// the config further.
func startWithIssuers(t *testing.T, op *testpeer.OIDC, ti *testIssuer, more func(map[string]any)) *env {
	return start(t, func(c map[string]any) {
		tenants := c["tenants"].([]any)
		tenants[0].(map[string]any)["issuers"] = []any{issuerCfg(op.Issuer, op.JWKSURL, audDemo)}
		tenants[1].(map[string]any)["issuers"] = []any{issuerCfg(ti.url, ti.url, audOther)}
		c["clients"] = append(c["clients"].([]any),
			map[string]any{"id": "backend", "tenant": "demo", "oauth_client_id": "backend", "connections": []string{"demo"}},
			map[string]any{"id": "other-svc", "tenant": "other", "oauth_client_id": "other-svc", "connections": []string{"other"}},
		)
		if more != nil {
			more(c)
		}
	})
}

func startOIDC(t *testing.T, clients ...testpeer.OIDCClient) *testpeer.OIDC {
	return testpeer.StartOIDC(t, testpeer.OIDCOptions{Audience: audDemo,
		Scopes:  "system/*.rs system/Patient.rs system/Observation.rs?category=vital-signs patient/*.rs patient/Observation.rs patient/Condition.rs user/*.rs",
		Clients: append([]testpeer.OIDCClient{{ID: "backend", Scope: "system/*.rs system/Patient.rs"}}, clients...)})
}

func wantRefused(t *testing.T, name string, r result, status int, challenge string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", name, r.status, status, r.body)
	}
	if got := r.header.Get("WWW-Authenticate"); got != challenge {
		t.Fatalf("%s: WWW-Authenticate %q, want %q", name, got, challenge)
	}
	if strings.Contains(string(r.body), "token") && !strings.Contains(string(r.body), `"code"`) {
		t.Fatalf("%s: body %s", name, r.body)
	}
}

func TestBearerTokensFromOIDCProvider(t *testing.T) {
	op := startOIDC(t)
	ti := startTestIssuer(t)
	e := startWithIssuers(t, op, ti, nil)

	tok := op.Token(t, "backend", "system/*.rs")
	if r := e.do(t, "GET", "/v1/demo/patients?limit=2", tok, nil); r.status != 200 {
		t.Fatalf("token of the tenant's issuer: %d %s", r.status, r.body)
	}
	// Tenant demo's token on tenant other's connection: like a missing one.
	if r := e.do(t, "GET", "/v1/other/patients?limit=2", tok, nil); r.status != 404 || !strings.Contains(string(r.body), "connection_not_found") {
		t.Fatalf("tenant A's token on tenant B's connection: %d %s", r.status, r.body)
	}
	ev := e.audit.events(t)
	if last := ev[len(ev)-1]; last["actor"] != "backend" || last["tenant"] != "demo" {
		t.Fatalf("audit event of the token's request: %v", last)
	}

	// Rotation: a token signed with a newly published key is accepted (an
	// unknown kid refetches the key set); once the old key is removed, a
	// token signed with it that Ferry never saw is refused.
	unused := op.Token(t, "backend", "system/*.rs")
	op.Rotate(t)
	fresh := op.Token(t, "backend", "system/*.rs")
	if r := e.do(t, "GET", "/v1/demo/patients?limit=1", fresh, nil); r.status != 200 {
		t.Fatalf("token of the rotated key: %d %s", r.status, r.body)
	}
	op.Retire(t)
	time.Sleep(2500 * time.Millisecond) // jwks_refresh_interval 1s
	wantRefused(t, "old key after removal", e.do(t, "GET", "/v1/demo/patients?limit=1", unused, nil), 401, challengeInvalidToken)
	if r := e.do(t, "GET", "/v1/demo/patients?limit=1", fresh, nil); r.status != 200 {
		t.Fatalf("current key: %d %s", r.status, r.body)
	}
}

func TestBearerTokenAttacks(t *testing.T) {
	op := startOIDC(t)
	ti := startTestIssuer(t)
	e := startWithIssuers(t, op, ti, func(c map[string]any) {
		c["clients"] = append(c["clients"].([]any), map[string]any{"id": "dotted", "tenant": "other",
			"api_key_sha256": sha("key.with.dots"), "connections": []string{"other"}})
	})
	now := time.Now()
	pubDER, _ := x509.MarshalPKIXPublicKey(&ti.key.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	b64 := base64.RawURLEncoding.EncodeToString

	good := ti.sign(t, nil, jose.RS256, ti.key, "test-1")
	if r := e.do(t, "GET", "/v1/other/patients?limit=1", good, nil); r.status != 200 {
		t.Fatalf("valid crafted token: %d %s", r.status, r.body)
	}
	payload, _ := json.Marshal(map[string]any{"iss": ti.url, "aud": audOther, "client_id": "other-svc", "scope": "system/*.rs",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	attacks := map[string]string{
		"expired":                       ti.sign(t, map[string]any{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-10 * time.Minute).Unix()}, jose.RS256, ti.key, "test-1"),
		"not yet valid":                 ti.sign(t, map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}, jose.RS256, ti.key, "test-1"),
		"issued later":                  ti.sign(t, map[string]any{"iat": now.Add(10 * time.Minute).Unix()}, jose.RS256, ti.key, "test-1"),
		"no exp":                        ti.sign(t, map[string]any{"exp": nil}, jose.RS256, ti.key, "test-1"),
		"wrong aud":                     ti.sign(t, map[string]any{"aud": audDemo}, jose.RS256, ti.key, "test-1"),
		"wrong iss":                     ti.sign(t, map[string]any{"iss": op.Issuer}, jose.RS256, ti.key, "test-1"),
		"unknown iss":                   ti.sign(t, map[string]any{"iss": "https://evil.example"}, jose.RS256, ti.key, "test-1"),
		"alg none":                      b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"test-1"}`)) + "." + b64(payload) + ".",
		"HS256 with the RSA public key": ti.sign(t, nil, jose.HS256, pubPEM, "test-1"),
		"unknown kid":                   ti.sign(t, nil, jose.RS256, stranger, "not-published"),
		"known kid, other key":          ti.sign(t, nil, jose.RS256, stranger, "test-1"),
		"unknown client":                ti.sign(t, map[string]any{"client_id": "nobody", "sub": "nobody"}, jose.RS256, ti.key, "test-1"),
		"another tenant's client":       ti.sign(t, map[string]any{"client_id": "backend"}, jose.RS256, ti.key, "test-1"),
		"an ID token":                   ti.sign(t, map[string]any{"nonce": "n"}, jose.RS256, ti.key, "test-1") + "x",
		"a key with dots":               "a.b.c",
	}
	for name, tok := range attacks {
		wantRefused(t, name, e.do(t, "GET", "/v1/other/patients?limit=1", tok, nil), 401, challengeInvalidToken)
	}
	wantRefused(t, "no credentials", e.do(t, "GET", "/v1/other/patients?limit=1", "", nil), 401, challengeNone)
	if n := scrapeMetrics(t, e.srv)["ferry_access_tokens_total"]; n == nil || len(n.GetMetric()) != 2 {
		t.Fatalf("ferry_access_tokens_total: %v", n)
	}
	// An API key that happens to look like a JWT is still an API key.
	if r := e.do(t, "GET", "/v1/other/patients?limit=1", "key.with.dots", nil); r.status != 200 {
		t.Fatalf("an API key with two dots: %d %s", r.status, r.body)
	}
	events := e.audit.events(t)
	for _, ev := range events[1 : len(events)-1] {
		if ev["action"] != "refused" || ev["actor"] != nil {
			t.Fatalf("a refused token's audit event: %v", ev)
		}
	}
}
