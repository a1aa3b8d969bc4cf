package outauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// ccServer is an OAuth2 token endpoint (client_secret_basic or _post).
type ccServer struct {
	URL    string
	id     string
	secret atomic.Value // string: the secret it accepts now
	hits   atomic.Int64
	gate   atomic.Pointer[chan struct{}]
	answer func(w http.ResponseWriter, n int64) // override the success answer
}

func newCCServer(t *testing.T, id, secret string) *ccServer {
	s := &ccServer{id: id}
	s.secret.Store(secret)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/token"
	return s
}

func (s *ccServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.hits.Add(1)
	if g := s.gate.Load(); g != nil {
		<-*g
	}
	_ = r.ParseForm()
	id, sec, ok := r.BasicAuth()
	if !ok {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	w.Header().Set("Content-Type", "application/json")
	if r.PostForm.Get("grant_type") != "client_credentials" || id != s.id || sec != s.secret.Load().(string) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client","error_description":"bad secret `+canary+`"}`)
		return
	}
	if s.answer != nil {
		s.answer(w, n)
		return
	}
	fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":300,"scope":%q}`, n, r.PostForm.Get("scope"))
}

func newCC(t *testing.T, s *ccServer, src SecretSource, clk *clock, mod ...func(*ClientCredentialsConfig)) *ClientCredentials {
	cfg := ClientCredentialsConfig{TokenURL: s.URL, ClientID: s.id, ClientSecret: src, Scopes: []string{"read"},
		Options: Options{AllowHTTP: true}}
	if clk != nil {
		cfg.Now = clk.Now
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := NewClientCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tokenOf(t *testing.T, c Authenticator) string {
	t.Helper()
	cr, err := c.Credential(t.Context())
	noCanary(t, err)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(string(cr.Value.Reveal()), "Bearer ")
}

// TestClientCredentialsCache: one fetch for 50 concurrent callers, the
// token kept until expiry minus skew, one background refresh ahead of that
// while the old token stays in use, and waiting only when nothing is valid.
func TestClientCredentialsCache(t *testing.T) {
	srv := newCCServer(t, "ferry", "s3cret-"+canary)
	clk := newClock()
	c := newCC(t, srv, StaticSecret(secrets.NewValue([]byte("s3cret-"+canary))), clk)

	gate := make(chan struct{})
	srv.gate.Store(&gate)
	var wg sync.WaitGroup
	toks := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr, err := c.Credential(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			toks <- string(cr.Value.Reveal())
		}()
	}
	time.Sleep(100 * time.Millisecond)
	srv.gate.Store(nil)
	close(gate)
	wg.Wait()
	close(toks)
	for tk := range toks {
		if tk != "Bearer tok-1" {
			t.Fatalf("got %q", tk)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("50 concurrent callers made %d token requests", n)
	}

	// expires_in 300, skew 60: usable for 240s, refreshed ahead from 192s.
	clk.Advance(190 * time.Second)
	if tk := tokenOf(t, c); tk != "tok-1" || srv.hits.Load() != 1 {
		t.Fatalf("at 190s: %s, %d hits", tk, srv.hits.Load())
	}
	clk.Advance(5 * time.Second)
	gate2 := make(chan struct{})
	srv.gate.Store(&gate2)
	for range 20 { // the refresh is in flight: everyone keeps tok-1
		if tk := tokenOf(t, c); tk != "tok-1" {
			t.Fatalf("during refresh-ahead: %s", tk)
		}
	}
	srv.gate.Store(nil)
	close(gate2)
	waitFor(t, func() bool { return tokenOf(t, c) == "tok-2" })
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("refresh ahead made %d requests, want 1", n-1)
	}

	// Past usable: callers wait for one fetch.
	clk.Advance(241 * time.Second)
	if tk := tokenOf(t, c); tk != "tok-3" {
		t.Fatalf("after expiry: %s", tk)
	}

	// Rejected: a token younger than MinRefreshInterval is kept (a source
	// that always says 401 cannot make us fetch per request) ...
	cr, _ := c.Credential(t.Context())
	if c.Rejected(t.Context(), cr) {
		t.Fatal("a fresh token was dropped")
	}
	// ... an older one is dropped once; a late 401 for it does not drop
	// the next.
	clk.Advance(DefaultMinRefreshInterval)
	if !c.Rejected(t.Context(), cr) {
		t.Fatal("Rejected kept a rejected token")
	}
	if tk := tokenOf(t, c); tk != "tok-4" {
		t.Fatalf("after Rejected: %s", tk)
	}
	clk.Advance(DefaultMinRefreshInterval)
	if !c.Rejected(t.Context(), cr) { // old credential: a newer token exists, retry
		t.Fatal("late 401: should say retry with the newer token")
	}
	if tk := tokenOf(t, c); tk != "tok-4" || srv.hits.Load() != 4 {
		t.Fatalf("late 401 dropped the newer token: %s, %d hits", tk, srv.hits.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rotating is a store whose secret rotated: a plain read gives the cached
// old value, a forced read the new one.
type rotating struct {
	old, new string
	forced   atomic.Int64
}

func (r *rotating) Secret(_ context.Context, force bool) (secrets.Value, error) {
	if force {
		r.forced.Add(1)
		return secrets.NewValue([]byte(r.new)), nil
	}
	return secrets.NewValue([]byte(r.old)), nil
}

func TestClientCredentialsSecretRotation(t *testing.T) {
	srv := newCCServer(t, "ferry", "new-"+canary)
	src := &rotating{old: "old-" + canary, new: `{"client_id":"ferry","client_secret":"new-` + canary + `"}`}
	for _, style := range []AuthStyle{AuthBasic, AuthInParams} {
		c := newCC(t, srv, src, nil, func(cfg *ClientCredentialsConfig) { cfg.AuthStyle = style; cfg.ClientID = "" + "ferry" })
		if tk := tokenOf(t, c); !strings.HasPrefix(tk, "tok-") {
			t.Fatalf("style %d: %s", style, tk)
		}
	}
	if src.forced.Load() != 2 || srv.hits.Load() != 4 {
		t.Fatalf("forced %d, hits %d", src.forced.Load(), srv.hits.Load())
	}
	// The store has nothing newer: the endpoint's refusal is the answer.
	srv.secret.Store("other")
	c := newCC(t, srv, StaticSecret(secrets.NewValue([]byte("old-"+canary))), nil)
	_, err := c.Credential(t.Context())
	var e *Error
	if !errors.Is(err, ErrRejected) || !errors.As(err, &e) || e.Status != 401 || e.OAuthCode != "invalid_client" {
		t.Fatalf("%v", err)
	}
	noCanary(t, err)
}

// TestTokenEndpointFailures: every failure is typed and carries neither the
// endpoint's text nor the secret.
func TestTokenEndpointFailures(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a redirect was followed")
	}))
	defer other.Close()
	answers := map[string]struct {
		h    func(w http.ResponseWriter, n int64)
		kind error
		code string
	}{
		"500": {func(w http.ResponseWriter, _ int64) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":"server_error","error_description":"`+canary+`"}`)
		}, ErrUnreachable, "server_error"},
		"429": {func(w http.ResponseWriter, _ int64) { w.WriteHeader(429) }, ErrUnreachable, ""},
		"invalid_scope": {func(w http.ResponseWriter, _ int64) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_scope","error_description":"`+canary+`"}`)
		}, ErrRejected, "invalid_scope"},
		"odd error code": {func(w http.ResponseWriter, _ int64) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"`+canary+`"}`)
		}, ErrRejected, ""},
		"html": {func(w http.ResponseWriter, _ int64) { io.WriteString(w, "<html>"+canary+"</html>") }, ErrBadResponse, ""},
		"oversize": {func(w http.ResponseWriter, _ int64) {
			io.WriteString(w, `{"access_token":"`+strings.Repeat("a", 70<<10)+`"}`)
		}, ErrBadResponse, ""},
		"crlf token": {func(w http.ResponseWriter, _ int64) {
			io.WriteString(w, `{"access_token":"a\r\nX-Evil: 1","token_type":"bearer"}`)
		}, ErrBadResponse, ""},
		"mac token": {func(w http.ResponseWriter, _ int64) {
			io.WriteString(w, `{"access_token":"abc","token_type":"mac"}`)
		}, ErrBadResponse, ""},
		"no token": {func(w http.ResponseWriter, _ int64) { io.WriteString(w, `{"token_type":"bearer"}`) }, ErrBadResponse, ""},
		"redirect": {func(w http.ResponseWriter, _ int64) {
			w.Header().Set("Location", other.URL+"/steal")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}, ErrBadResponse, ""},
	}
	for name, a := range answers {
		t.Run(name, func(t *testing.T) {
			srv := newCCServer(t, "ferry", "s-"+canary)
			srv.answer = a.h
			c := newCC(t, srv, StaticSecret(secrets.NewValue([]byte("s-"+canary))), nil)
			_, err := c.Credential(t.Context())
			var e *Error
			if !errors.Is(err, a.kind) || !errors.As(err, &e) || e.OAuthCode != a.code {
				t.Fatalf("%v (%#v), want %v %q", err, err, a.kind, a.code)
			}
			noCanary(t, err)
			// The failure is remembered for ErrorBackoff: no call per request.
			hits := srv.hits.Load()
			for range 10 {
				_, _ = c.Credential(t.Context())
			}
			if srv.hits.Load() != hits {
				t.Fatalf("a failing endpoint was called per request")
			}
		})
	}

	t.Run("expires_in as a string", func(t *testing.T) {
		srv := newCCServer(t, "ferry", "s")
		srv.answer = func(w http.ResponseWriter, _ int64) {
			io.WriteString(w, `{"access_token":"abc","token_type":"bearer","expires_in":"3600"}`)
		}
		c := newCC(t, srv, StaticSecret(secrets.NewValue([]byte("s"))), nil)
		tok, err := c.Token(t.Context())
		if err != nil || time.Until(tok.Expiry) < 59*time.Minute {
			t.Fatalf("%v %v", err, tok.Expiry)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: "http://" + addr + "/token", ClientID: "x",
			ClientSecret: StaticSecret(secrets.NewValue([]byte(canary))), Options: Options{AllowHTTP: true}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Credential(t.Context())
		if !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "/token") {
			t.Fatalf("%v", err)
		}
		noCanary(t, err)
	})

	t.Run("store unavailable", func(t *testing.T) {
		c, _ := NewClientCredentials(ClientCredentialsConfig{TokenURL: "https://x.example/token", ClientID: "x",
			ClientSecret: ProviderSecret(secrets.Env{Lookup: func(string) (string, bool) { return "", false }}, "env:MISSING")})
		_, err := c.Credential(t.Context())
		if !errors.Is(err, ErrCredential) || !errors.Is(err, secrets.ErrNotFound) {
			t.Fatalf("%v", err)
		}
	})

	t.Run("config", func(t *testing.T) {
		for _, u := range []string{"http://x.example/t", "https://u:p@x.example/t", "https://x.example/t#f", "/t", "ftp://x/t"} {
			if _, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: u, ClientSecret: StaticSecret(secrets.Value{})}); err == nil {
				t.Errorf("%s accepted", u)
			}
		}
	})
}

// TestStaticKinds: bearer, basic and API key headers, and a forced re-read
// after a 401 that finds the rotated secret.
func TestStaticKinds(t *testing.T) {
	ctx := t.Context()
	v := func(s string) SecretSource { return StaticSecret(secrets.NewValue([]byte(s))) }
	for name, tc := range map[string]struct {
		a            Authenticator
		header, want string
	}{
		"bearer":     {NewBearer(v("tkn")), "Authorization", "Bearer tkn"},
		"basic":      {NewBasic(v("user:pa:ss")), "Authorization", "Basic dXNlcjpwYTpzcw=="},
		"basic json": {NewBasic(v(`{"username":"user","password":"pa:ss"}`)), "Authorization", "Basic dXNlcjpwYTpzcw=="},
		"api key":    {NewAPIKey("X-Api-Key", v("k-1")), "X-Api-Key", "k-1"},
	} {
		c, err := tc.a.Credential(ctx)
		if err != nil || c.Header != tc.header || string(c.Value.Reveal()) != tc.want {
			t.Errorf("%s: %v %s %q", name, err, c.Header, c.Value.Reveal())
		}
	}
	for name, a := range map[string]Authenticator{
		"bearer crlf": NewBearer(v("a\r\nb" + canary)), "basic no colon": NewBasic(v(canary)),
		"basic bad json": NewBasic(v(`{"user":"` + canary + `"}`)),
	} {
		_, err := a.Credential(ctx)
		if !errors.Is(err, ErrCredential) {
			t.Errorf("%s: %v", name, err)
		}
		noCanary(t, err)
	}
	src := &rotating{old: "old", new: "new"}
	a := NewBearer(src)
	c, _ := a.Credential(ctx)
	if !a.Rejected(ctx, c) {
		t.Fatal("rotated secret: Rejected should say retry")
	}
	still := NewBearer(v("same"))
	c, _ = still.Credential(ctx)
	if still.Rejected(ctx, c) {
		t.Fatal("nothing newer: Rejected should say no retry")
	}
}

// TestRotationMidTraffic plays the transport's part: a source accepts only
// the current token; the token rotates under steady concurrent traffic;
// every request succeeds, at most one retry each.
func TestRotationMidTraffic(t *testing.T) {
	srv := newCCServer(t, "ferry", "s")
	c := newCC(t, srv, StaticSecret(secrets.NewValue([]byte("s"))), nil, func(cfg *ClientCredentialsConfig) {
		cfg.MinRefreshInterval = time.Millisecond
	})
	var valid atomic.Value
	valid.Store("") // the source accepts only the newest token
	srv.answer = func(w http.ResponseWriter, n int64) {
		tok := fmt.Sprintf("tok-%d", n)
		valid.Store("Bearer " + tok)
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":3600}`, tok)
	}
	send := func(cr Credential) int {
		if string(cr.Value.Reveal()) == valid.Load().(string) {
			return 200
		}
		return 401
	}
	var wg sync.WaitGroup
	var failed, retried atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if g == 0 && i%50 == 25 {
					// The source revokes its tokens (rotation on its side),
					// spaced so that no request's one retry straddles two
					// revocations.
					time.Sleep(20 * time.Millisecond)
					valid.Store("revoked")
					time.Sleep(20 * time.Millisecond)
				}
				cr, err := c.Credential(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				if send(cr) == 401 {
					if !c.Rejected(t.Context(), cr) {
						failed.Add(1)
						continue
					}
					retried.Add(1)
					cr, err = c.Credential(t.Context())
					if err != nil || send(cr) != 200 {
						failed.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("token requests: %d, retried requests: %d", srv.hits.Load(), retried.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed twice", failed.Load())
	}
	if srv.hits.Load() > 1+4 {
		t.Fatalf("%d token requests for 4 rotations", srv.hits.Load())
	}
}
