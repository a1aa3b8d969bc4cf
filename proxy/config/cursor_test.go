package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// mutated parses the valid test document after mutate has changed it.
func mutated(t *testing.T, mutate func(map[string]any)) (*Config, map[string]string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(fmt.Sprintf(validDoc, hexA, hexB)), &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	b, _ := json.Marshal(m)
	c, probs := Parse(b, "")
	out := map[string]string{}
	for _, p := range probs {
		out[p.Path] = p.Message
	}
	return c, out
}

func TestCursorSection(t *testing.T) {
	c, probs := mutated(t, func(m map[string]any) {
		m["cursor"] = map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:FERRY_CURSOR_KEY"}}}
	})
	if len(probs) != 0 || c.Cursor.TTL.D().String() != "1h0m0s" || c.Cursor.ChangesTTL.D().String() != "168h0m0s" {
		t.Fatalf("valid cursor section: %v", probs)
	}
	_, probs = mutated(t, func(m map[string]any) {
		m["cursor"] = map[string]any{"keys": []any{
			map[string]any{"id": "K1", "secret_ref": "env:A"},
			map[string]any{"id": "k2", "secret_ref": "vault:x"},
			map[string]any{"id": "k2", "secret_ref": "env:B"},
		}, "ttl": "48h", "changes_ttl": "721h"}
	})
	for _, path := range []string{"$.cursor.keys[0].id", "$.cursor.keys[1].secret_ref", "$.cursor.keys[2].id", "$.cursor.ttl", "$.cursor.changes_ttl"} {
		if probs[path] == "" {
			t.Errorf("no problem at %s (got %v)", path, probs)
		}
	}
	_, probs = mutated(t, func(m map[string]any) { m["cursor"] = map[string]any{"keys": []any{}} })
	if probs["$.cursor.keys"] == "" {
		t.Errorf("empty key list accepted: %v", probs)
	}
	// Outside dev_mode the section is required, literal keys are refused,
	// env keys (the operator's) are not.
	_, probs = mutated(t, func(m map[string]any) { delete(m, "dev_mode") })
	if !strings.Contains(probs["$.cursor"], "required") {
		t.Errorf("missing cursor accepted outside dev_mode: %v", probs)
	}
	_, probs = mutated(t, func(m map[string]any) {
		delete(m, "dev_mode")
		m["cursor"] = map[string]any{"keys": []any{
			map[string]any{"id": "k1", "secret_ref": "env:FERRY_CURSOR_KEY"},
			map[string]any{"id": "k2", "secret_ref": "literal:0123456789abcdef0123456789abcdef"},
		}}
	})
	if probs["$.cursor.keys[0].secret_ref"] != "" || probs["$.cursor.keys[1].secret_ref"] == "" {
		t.Errorf("cursor key refs outside dev_mode: %v", probs)
	}
}

func TestClientScopes(t *testing.T) {
	c, probs := mutated(t, func(map[string]any) {})
	if len(probs) != 0 || !c.Clients[0].HasScope(ScopeRead) || c.Clients[0].HasScope(ScopePassthrough) {
		t.Fatalf("default scopes: %v %v", c.Clients[0].Scopes, probs)
	}
	_, probs = mutated(t, func(m map[string]any) {
		m["clients"].([]any)[0].(map[string]any)["scopes"] = []string{"read", "admin"}
	})
	if !strings.Contains(probs["$.clients[0].scopes[1]"], "unknown scope") {
		t.Fatalf("unknown scope accepted: %v", probs)
	}
}
