package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
)

func TestTokenCacheIsBounded(t *testing.T) {
	c := newTokenCache(3)
	now := time.Unix(1000, 0)
	for i := 0; i < 10; i++ {
		c.put(sha256.Sum256([]byte{byte(i)}), &Token{Expiry: now.Add(time.Minute)}, now)
	}
	if c.len() > 3 {
		t.Fatalf("cache holds %d entries, bound 3", c.len())
	}
	last := sha256.Sum256([]byte{9})
	if c.get(last, now) == nil {
		t.Fatal("the newest entry was evicted")
	}
	if c.get(last, now.Add(time.Minute)) != nil {
		t.Fatal("an expired token was served from the cache")
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for in, want := range map[string]bool{"a.b.c": true, "key-demo-app": false, "a.b": false, "a.b.c.d": false} {
		if LooksLikeJWT([]byte(in)) != want {
			t.Errorf("LooksLikeJWT(%q) != %v", in, want)
		}
	}
}

// FuzzVerify: no input panics the verifier or is accepted without a key.
func FuzzVerify(f *testing.F) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	c := &config.Config{DevMode: true, Tenants: []config.Tenant{{ID: "t", Issuers: []config.Issuer{{
		Issuer: srv.URL, JWKSURL: srv.URL, Audience: "a", Algorithms: []string{"RS256"},
		ClockSkew: config.Duration(time.Second), JWKSRefetchInterval: config.Duration(time.Hour),
		JWKSRefreshInterval: config.Duration(time.Hour), PatientClaim: "patient", PurposeOfUseClaim: "pou",
	}}}}}
	v, err := New(c, Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	f.Add([]byte("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if tok, err := v.Verify(ctx, raw); err == nil {
			t.Fatalf("accepted %q as %+v with an empty key set", raw, tok)
		}
	})
}

// TestUnknownKidRefetchIsRateLimited: a flood of tokens naming unknown
// kids costs the issuer at most one refetch per jwks_refetch_interval,
// not one per token.
func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()
	c := &config.Config{DevMode: true, Tenants: []config.Tenant{{ID: "t", Issuers: []config.Issuer{{
		Issuer: srv.URL, JWKSURL: srv.URL, Audience: "a", Algorithms: []string{"RS256"},
		ClockSkew: config.Duration(time.Second), JWKSRefetchInterval: config.Duration(time.Hour),
		JWKSRefreshInterval: config.Duration(time.Hour), PatientClaim: "patient", PurposeOfUseClaim: "pou",
	}}}}}
	v, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	deadline := time.Now().Add(5 * time.Second)
	for fetches.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the first fetch happens at start
	}
	enc := base64.RawURLEncoding.EncodeToString
	for i := 0; i < 20; i++ {
		tok := enc([]byte(fmt.Sprintf(`{"alg":"RS256","kid":"k%d"}`, i))) + "." +
			enc([]byte(fmt.Sprintf(`{"iss":%q,"aud":"a","exp":%d}`, srv.URL, time.Now().Add(time.Minute).Unix()))) + ".c2ln"
		if _, err := v.Verify(context.Background(), []byte(tok)); err == nil {
			t.Fatal("a token with an unknown kid was accepted")
		}
	}
	if n := fetches.Load(); n > 2 {
		t.Fatalf("%d key set fetches for 20 unknown kids, want at most 2 (start and one refetch)", n)
	}
}
