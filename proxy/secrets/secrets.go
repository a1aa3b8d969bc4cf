package secrets

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Value is a resolved secret.
type Value struct{ b []byte }

// NewValue wraps b; the caller must not modify b afterwards.
func NewValue(b []byte) Value { return Value{b: b} }

// Reveal returns the secret's bytes, for the one place that must use them
// (an outbound auth header, an HMAC key). Never log the result.
func (v Value) Reveal() []byte { return v.b }

// Empty reports whether the secret has no bytes.
func (v Value) Empty() bool { return len(v.b) == 0 }

// Equal reports whether v and w hold the same bytes, in time that does not
// depend on where they differ.
func (v Value) Equal(w Value) bool { return subtle.ConstantTimeCompare(v.b, w.b) == 1 }

const redacted = "REDACTED"

func (Value) String() string               { return redacted }
func (Value) GoString() string             { return redacted }
func (Value) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Errors a provider returns; the proxy maps each to a problem code without
// the reference or the value.
//
// ErrThrottled is always reported together with ErrUnavailable
// (errors.Is matches both), so a caller that only knows ErrUnavailable
// treats throttling as the store being unavailable, which it is.
var (
	ErrNotFound     = errors.New("secret not found")
	ErrUnavailable  = errors.New("secret store unavailable")
	ErrBadRef       = errors.New("malformed secret reference")
	ErrAccessDenied = errors.New("access to secret denied")
	ErrThrottled    = errors.New("secret store throttled the request")
)

// Provider resolves a reference ("env:NAME") to a value.
type Provider interface {
	Resolve(ctx context.Context, ref string) (Value, error)
}

// Refresher is implemented by providers whose values can change while
// cached (rotation). Refresh is called after the source rejected the value
// Resolve gave (HTTP 401): it bypasses the cache, at most once per reference
// per provider-defined interval, and returns the value to retry with, which
// may be the same one when nothing newer exists.
type Refresher interface {
	Refresh(ctx context.Context, ref string) (Value, error)
}

// Env is the dev-mode provider.
type Env struct {
	// Lookup reads the environment; nil means os.LookupEnv.
	Lookup func(string) (string, bool)
}

// Resolve implements Provider.
func (e Env) Resolve(_ context.Context, ref string) (Value, error) {
	scheme, rest, ok := strings.Cut(ref, ":")
	if !ok || rest == "" {
		return Value{}, ErrBadRef
	}
	switch scheme {
	case "literal":
		return NewValue([]byte(rest)), nil
	case "env":
		lookup := e.Lookup
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(rest)
		if !ok || v == "" {
			return Value{}, ErrNotFound
		}
		return NewValue([]byte(v)), nil
	}
	return Value{}, ErrBadRef
}
