package secrets

import (
	"context"
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

const redacted = "REDACTED"

func (Value) String() string               { return redacted }
func (Value) GoString() string             { return redacted }
func (Value) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Errors a provider returns; the proxy maps each to a problem code without
// the reference or the value.
var (
	ErrNotFound    = errors.New("secret not found")
	ErrUnavailable = errors.New("secret store unavailable")
	ErrBadRef      = errors.New("malformed secret reference")
)

// Provider resolves a reference ("env:NAME") to a value.
type Provider interface {
	Resolve(ctx context.Context, ref string) (Value, error)
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
