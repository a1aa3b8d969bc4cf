package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	const canary = "canary-secret-7f3a9"
	v := NewValue([]byte(canary))
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "v", v)
	js, _ := json.Marshal(map[string]any{"v": v})
	outs := []string{
		fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q %x", v, v, v, v, v, v),
		fmt.Sprintf("%v", struct{ S Value }{v}), string(js), logged.String(),
		fmt.Errorf("wrapped: %v", v).Error(),
	}
	for _, o := range outs {
		if strings.Contains(o, canary) {
			t.Fatalf("secret leaked: %s", o)
		}
		if !strings.Contains(o, "REDACTED") {
			t.Fatalf("expected REDACTED in %q", o)
		}
	}
	if string(v.Reveal()) != canary {
		t.Fatal("Reveal lost the value")
	}
}

func TestEnvProvider(t *testing.T) {
	env := Env{Lookup: func(k string) (string, bool) {
		if k == "TOKEN" {
			return "abc", true
		}
		return "", false
	}}
	ctx := context.Background()
	v, err := env.Resolve(ctx, "env:TOKEN")
	if err != nil || string(v.Reveal()) != "abc" {
		t.Fatalf("env: %v %q", err, v.Reveal())
	}
	v, err = env.Resolve(ctx, "literal:xyz")
	if err != nil || string(v.Reveal()) != "xyz" {
		t.Fatalf("literal: %v", err)
	}
	if _, err := env.Resolve(ctx, "env:MISSING"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	for _, bad := range []string{"", "env", "env:", "arn:aws:x", "nocolon"} {
		if _, err := env.Resolve(ctx, bad); err == nil {
			t.Fatalf("%q resolved", bad)
		}
	}
}

func TestValueEqual(t *testing.T) {
	a, b, c := NewValue([]byte("x1")), NewValue([]byte("x1")), NewValue([]byte("x2"))
	if !a.Equal(b) || a.Equal(c) || a.Equal(Value{}) || !(Value{}).Equal(NewValue(nil)) {
		t.Fatal("Equal is wrong")
	}
	thr := fmt.Errorf("x: %w", errors.Join(ErrThrottled, ErrUnavailable))
	if !errors.Is(thr, ErrUnavailable) || !errors.Is(thr, ErrThrottled) {
		t.Fatal("throttled must match both errors")
	}
}
