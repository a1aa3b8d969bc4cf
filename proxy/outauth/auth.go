package outauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// Header names.
const headerAuthorization = "Authorization"

// Credential is what one request to the source carries: one header.
type Credential struct {
	// Header is the header's name ("Authorization", or an API key header).
	Header string
	// Value is the header's whole value ("Bearer …", "Basic …", the key).
	Value secrets.Value

	gen     uint64
	fetched time.Time
	src     secrets.Value // the secret Value was built from (static kinds)
}

// Authenticator gives each request its credential and learns of the
// source's rejections. Safe for concurrent use.
type Authenticator interface {
	// Credential returns the header to set. Its errors are *Error or
	// secrets errors, and map to credentials_unavailable.
	Credential(ctx context.Context) (Credential, error)
	// Rejected is called when the source answered 401 to a request that
	// carried c. It reports whether asking Credential again and retrying
	// once may help (a newer secret or token exists, or was fetched).
	Rejected(ctx context.Context, c Credential) bool
}

func bearerFromToken(ctx context.Context, tc *tokenCache) (Credential, error) {
	t, err := tc.Token(ctx)
	if err != nil {
		return Credential{}, err
	}
	// One small allocation per request; the token is short-lived, so the
	// header is not worth caching apart from it.
	tok := t.AccessToken.Reveal()
	h := make([]byte, 0, len("Bearer ")+len(tok))
	h = append(append(h, "Bearer "...), tok...)
	return Credential{Header: headerAuthorization, Value: secrets.NewValue(h), gen: t.gen, fetched: t.fetched}, nil
}

// Static kinds: the header is derived from a secret read from the store on
// each request (the store caches), and re-derived only when the secret
// changes.
type staticAuth struct {
	header string
	src    SecretSource
	build  func(secrets.Value) (secrets.Value, error)

	mu   sync.Mutex
	last Credential
}

// NewBearer sends "Authorization: Bearer <secret>".
func NewBearer(src SecretSource) Authenticator {
	return &staticAuth{header: headerAuthorization, src: src, build: func(v secrets.Value) (secrets.Value, error) {
		if !validToken(string(v.Reveal())) {
			return secrets.Value{}, errBadSecret
		}
		return secrets.NewValue(append([]byte("Bearer "), v.Reveal()...)), nil
	}}
}

// NewBasic sends "Authorization: Basic …" from a secret that is either
// "user:password" or a JSON object {"username": "...", "password": "..."}.
func NewBasic(src SecretSource) Authenticator {
	return &staticAuth{header: headerAuthorization, src: src, build: func(v secrets.Value) (secrets.Value, error) {
		b := v.Reveal()
		if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
			var j struct {
				Username string `json:"username"`
				Password string `json:"password"`
			}
			if json.Unmarshal(b, &j) != nil || j.Username == "" || strings.Contains(j.Username, ":") {
				return secrets.Value{}, errBadSecret
			}
			b = []byte(j.Username + ":" + j.Password)
		} else if !strings.Contains(string(b), ":") {
			return secrets.Value{}, errBadSecret
		}
		out := make([]byte, 0, len("Basic ")+base64.StdEncoding.EncodedLen(len(b)))
		out = append(out, "Basic "...)
		return secrets.NewValue(base64.StdEncoding.AppendEncode(out, b)), nil
	}}
}

// NewAPIKey sends "<header>: <secret>".
func NewAPIKey(header string, src SecretSource) Authenticator {
	return &staticAuth{header: header, src: src, build: func(v secrets.Value) (secrets.Value, error) {
		if !validToken(string(v.Reveal())) {
			return secrets.Value{}, errBadSecret
		}
		return v, nil
	}}
}

var errBadSecret = &Error{Kind: ErrCredential, cause: errors.New("secret has the wrong shape for this auth kind")}

func (a *staticAuth) Credential(ctx context.Context) (Credential, error) {
	v, err := a.src.Secret(ctx, false)
	if err != nil {
		return Credential{}, err
	}
	return a.derive(v)
}

func (a *staticAuth) derive(v secrets.Value) (Credential, error) {
	a.mu.Lock()
	last := a.last
	a.mu.Unlock()
	if sameBytes(last.src, v) {
		return last, nil
	}
	h, err := a.build(v)
	if err != nil {
		return Credential{}, err
	}
	c := Credential{Header: a.header, Value: h, src: v}
	a.mu.Lock()
	a.last = c
	a.mu.Unlock()
	return c, nil
}

// sameBytes is true when a and b are the very same bytes (the store's
// cache hands out one slice per version) or equal ones.
func sameBytes(a, b secrets.Value) bool {
	x, y := a.Reveal(), b.Reveal()
	if len(x) == 0 || len(x) != len(y) {
		return false
	}
	return &x[0] == &y[0] || a.Equal(b)
}

// Rejected forces a re-read of the secret (the store rate-limits forced
// reads and shares them between callers) and reports whether it changed.
func (a *staticAuth) Rejected(ctx context.Context, c Credential) bool {
	v, err := a.src.Secret(ctx, true)
	if err != nil {
		return false
	}
	nc, err := a.derive(v)
	return err == nil && !sameBytes(nc.src, c.src)
}
