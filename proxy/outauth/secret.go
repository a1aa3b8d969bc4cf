package outauth

import (
	"context"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// SecretSource yields a credential from the tenant's store. force asks the
// store to bypass its cache, after the value was rejected.
type SecretSource interface {
	Secret(ctx context.Context, force bool) (secrets.Value, error)
}

// StaticSecret is a fixed value (tests, demo).
func StaticSecret(v secrets.Value) SecretSource { return static{v} }

type static struct{ v secrets.Value }

func (s static) Secret(context.Context, bool) (secrets.Value, error) { return s.v, nil }

// ProviderSecret reads ref from p. A forced read uses p's Refresh when p is
// a secrets.Refresher, and a plain Resolve otherwise.
func ProviderSecret(p secrets.Provider, ref string) SecretSource { return &provided{p: p, ref: ref} }

type provided struct {
	p   secrets.Provider
	ref string
}

func (s *provided) Secret(ctx context.Context, force bool) (secrets.Value, error) {
	if r, ok := s.p.(secrets.Refresher); ok && force {
		return r.Refresh(ctx, s.ref)
	}
	return s.p.Resolve(ctx, s.ref)
}
