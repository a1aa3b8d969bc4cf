package outauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// canary is a distinctive secret; no error may ever carry it.
const canary = "CANARY-outauth-5be0c2d9"

func noCanary(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Fatalf("error leaks a secret: %v", err)
	}
}

// smartServer is a SMART token endpoint that verifies client assertions
// with go-jose and the client's registered public key, as an EHR does.
type smartServer struct {
	URL      string
	clientID string
	pub      crypto.PublicKey
	alg      jose.SignatureAlgorithm
	kid      string

	mu       sync.Mutex
	seenJTI  map[string]bool
	accepted int
	refused  []string // why, per refused request
	last     string   // the last assertion
}

func newSMARTServer(t *testing.T, clientID string, pub crypto.PublicKey, alg jose.SignatureAlgorithm, kid string) *smartServer {
	s := &smartServer{clientID: clientID, pub: pub, alg: alg, kid: kid, seenJTI: map[string]bool{}}
	srv := httptest.NewServer(s) // 127.0.0.1
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/oauth2/token"
	return s
}

func (s *smartServer) refuse(w http.ResponseWriter, why string) {
	s.mu.Lock()
	s.refused = append(s.refused, why)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": why + " " + canary})
}

func (s *smartServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		s.refuse(w, "not a form POST")
		return
	}
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		s.refuse(w, "grant_type")
		return
	case r.PostForm.Get("client_assertion_type") != ClientAssertionType:
		s.refuse(w, "client_assertion_type")
		return
	case r.PostForm.Get("scope") == "":
		s.refuse(w, "scope")
		return
	}
	raw := r.PostForm.Get("client_assertion")
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{s.alg})
	if err != nil {
		s.refuse(w, "alg or format: "+err.Error())
		return
	}
	s.mu.Lock()
	kid := s.kid
	s.mu.Unlock()
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != kid {
		s.refuse(w, "kid")
		return
	}
	var c jwt.Claims
	s.mu.Lock()
	pub := s.pub
	s.mu.Unlock()
	if err := tok.Claims(pub, &c); err != nil {
		s.refuse(w, "signature: "+err.Error())
		return
	}
	now := time.Now()
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.clientID, Subject: s.clientID, AnyAudience: jwt.Audience{s.URL}, Time: now}, 0); err != nil {
		s.refuse(w, "claims: "+err.Error())
		return
	}
	if c.Expiry == nil || c.Expiry.Time().After(now.Add(5*time.Minute)) {
		s.refuse(w, "exp missing or more than 5 minutes ahead")
		return
	}
	s.mu.Lock()
	reused := c.ID == "" || s.seenJTI[c.ID]
	s.seenJTI[c.ID] = true
	s.last = raw
	s.mu.Unlock()
	if reused {
		s.refuse(w, "jti missing or reused")
		return
	}
	s.mu.Lock()
	s.accepted++
	n := s.accepted
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": "smart-access-" + strings.Repeat("x", n), "token_type": "bearer",
		"expires_in": 300, "scope": r.PostForm.Get("scope"),
	})
}

func (s *smartServer) refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// register replaces the client's registered key (key rotation at the EHR).
func (s *smartServer) register(pub crypto.PublicKey, kid string) {
	s.mu.Lock()
	s.pub, s.kid = pub, kid
	s.mu.Unlock()
}

func pkcs8PEM(t *testing.T, key any) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestSMARTBackendServices(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	cases := []struct {
		name   string
		pub    crypto.PublicKey
		alg    jose.SignatureAlgorithm
		secret string
		kid    string // in config
		wantK  string // kid the server expects
	}{
		{"RS384 PKCS#8", &rsaKey.PublicKey, jose.RS384, pkcs8PEM(t, rsaKey), "k1", "k1"},
		{"RS384 PKCS#1", &rsaKey.PublicKey, jose.RS384,
			string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})), "", ""},
		{"ES384 PKCS#8", &ecKey.PublicKey, jose.ES384, pkcs8PEM(t, ecKey), "ec-1", "ec-1"},
		{"ES384 SEC1 in JSON with kid", &ecKey.PublicKey, jose.ES384,
			mustJSON(t, map[string]string{"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), "kid": "from-secret"}), "", "from-secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSMARTServer(t, "ferry-client", tc.pub, tc.alg, tc.wantK)
			sb, err := NewSMARTBackend(SMARTConfig{
				TokenURL: srv.URL, ClientID: "ferry-client", Scopes: []string{"system/Patient.rs", "system/Observation.rs"},
				Key: StaticSecret(secrets.NewValue([]byte(tc.secret))), KeyID: tc.kid,
				Options: Options{AllowHTTP: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			c, err := sb.Credential(ctx)
			if err != nil {
				t.Fatalf("%v (server refused: %v)", err, srv.refusals())
			}
			if c.Header != "Authorization" || string(c.Value.Reveal()) != "Bearer smart-access-x" {
				t.Fatalf("credential %s: %q", c.Header, c.Value.Reveal())
			}
			// Cached: no second assertion.
			if _, err := sb.Credential(ctx); err != nil || sb.Fetches() != 1 {
				t.Fatalf("not cached: %v, %d fetches", err, sb.Fetches())
			}
			// A replayed assertion is refused by the server ...
			srv.mu.Lock()
			last := srv.last
			srv.mu.Unlock()
			resp, err := http.PostForm(srv.URL, map[string][]string{
				"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
				"client_assertion_type": {ClientAssertionType}, "client_assertion": {last},
			})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("replayed assertion: %d", resp.StatusCode)
			}
			// ... and every new fetch signs a new jti: a forced new token is
			// accepted.
			sb.o.MinRefreshInterval = time.Nanosecond
			time.Sleep(time.Millisecond)
			if !sb.Rejected(ctx, c) {
				t.Fatal("Rejected refused to drop the token")
			}
			c2, err := sb.Credential(ctx)
			if err != nil || string(c2.Value.Reveal()) != "Bearer smart-access-xx" {
				t.Fatalf("second token: %v (server refused: %v)", err, srv.refusals())
			}
		})
	}

	t.Run("lifetime and claims", func(t *testing.T) {
		sb, err := NewSMARTBackend(SMARTConfig{TokenURL: "https://ehr.example/token", ClientID: "c", Scopes: []string{"system/*.rs"},
			Key: StaticSecret(secrets.NewValue([]byte(pkcs8PEM(t, rsaKey))))})
		if err != nil {
			t.Fatal(err)
		}
		a, err := sb.Assertion(secrets.NewValue([]byte(pkcs8PEM(t, rsaKey))))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.RS384})
		if err != nil {
			t.Fatal(err)
		}
		var c jwt.Claims
		if err := tok.Claims(&rsaKey.PublicKey, &c); err != nil {
			t.Fatal(err)
		}
		if d := c.Expiry.Time().Sub(c.IssuedAt.Time()); d != DefaultAssertionLifetime || c.Issuer != "c" || c.Subject != "c" || len(c.ID) < 16 {
			t.Fatalf("claims %+v", c)
		}
		if _, err := NewSMARTBackend(SMARTConfig{TokenURL: "https://x/t", ClientID: "c", Scopes: []string{"s"},
			Key: StaticSecret(secrets.Value{}), AssertionLifetime: 6 * time.Minute}); err == nil {
			t.Fatal("a 6 minute assertion was accepted")
		}
	})

	t.Run("bad keys", func(t *testing.T) {
		small, _ := rsa.GenerateKey(rand.Reader, 1024)
		p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for name, secret := range map[string]string{
			"rsa1024":        pkcs8PEM(t, small),
			"p256":           pkcs8PEM(t, p256),
			"garbage":        "not a key " + canary,
			"pem garbage":    "-----BEGIN PRIVATE KEY-----\n" + canary + "\n-----END PRIVATE KEY-----\n",
			"json no key":    `{"kid":"` + canary + `"}`,
			"public key PEM": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte(canary)})),
			"wrong alg":      pkcs8PEM(t, ecKey), // config says RS384 below
		} {
			cfg := SMARTConfig{TokenURL: "https://ehr.example/token", ClientID: "c", Scopes: []string{"s"},
				Key: StaticSecret(secrets.NewValue([]byte(secret)))}
			if name == "wrong alg" {
				cfg.Algorithm = AlgRS384
			}
			sb, err := NewSMARTBackend(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = sb.Credential(t.Context())
			if !errors.Is(err, ErrBadKey) {
				t.Errorf("%s: %v, want ErrBadKey", name, err)
			}
			noCanary(t, err)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
