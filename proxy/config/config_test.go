package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const validDoc = `{
  "dev_mode": true,
  "node": {"listen": "127.0.0.1:8080", "admin_listen": "127.0.0.1:9090", "region": "us"},
  "plugins": [{"kind": "fhir", "path": "ferry-connector-fhir", "sha256": "%s"}],
  "tenants": [{"id": "acme", "secrets": {"provider": "env"}, "audit": {"key_ref": "env:ACME_AUDIT"}},
              {"id": "beta", "secrets": {"provider": "env"}, "audit": {"key_ref": "env:BETA_AUDIT"}}],
  "clients": [{"id": "app", "tenant": "acme", "api_key_sha256": "%s", "connections": ["epic"]}],
  "connections": [
    {"id": "epic", "tenant": "acme", "connector": "fhir", "base_url": "https://fhir.example/R4",
     "auth": {"kind": "api_key", "secret_ref": "env:EPIC_KEY"}},
    {"id": "beta-src", "tenant": "beta", "connector": "fhir", "base_url": "https://b.example/",
     "auth": {"kind": "none"}, "timeout": "30s", "settings": {"paging": "offset"}}
  ]
}`

var hexA, hexB = strings.Repeat("a", 64), strings.Repeat("b", 64)

func TestParseValidAndDefaults(t *testing.T) {
	c, probs := Parse([]byte(fmt.Sprintf(validDoc, hexA, hexB)), "/etc/ferry")
	if len(probs) > 0 {
		t.Fatalf("valid config rejected: %v", probs)
	}
	if c.Plugins[0].Path != "/etc/ferry/ferry-connector-fhir" {
		t.Fatalf("relative plugin path not resolved: %s", c.Plugins[0].Path)
	}
	if c.Plugins[0].Sandbox != SandboxRequired {
		t.Fatalf("plugin sandbox defaults to %q", c.Plugins[0].Sandbox)
	}
	if c.Connections[0].Timeout.D() != DefaultConnectionTimeout || c.Connections[1].Timeout.D() != 30*time.Second {
		t.Fatalf("timeouts: %v %v", c.Connections[0].Timeout, c.Connections[1].Timeout)
	}
	if c.Connections[0].Auth.Header != DefaultAPIKeyHeader || c.Limits.MaxUpstreamBodyBytes != DefaultMaxUpstreamBodyBytes {
		t.Fatal("defaults not applied")
	}
}

// TestEveryProblemWithItsPath: one broken document, every problem reported
// at once, each at the right path.
func TestEveryProblemWithItsPath(t *testing.T) {
	doc := `{
  "node": {"listen": "0.0.0.0:8080", "admin_listen": "0.0.0.0:8080", "region": "US East"},
  "limits": {"max_request_body_bytes": -1},
  "plugins": [{"kind": "fhir", "path": "", "sha256": "ABC", "sandbox": "loose"}, {"kind": "fhir", "path": "x", "sha256": "` + hexA + `"}],
  "tenants": [{"id": "Acme", "secrets": {"provider": "vault"}, "audit": {"key_ref": "literal:k"}}],
  "clients": [
    {"id": "a", "tenant": "nope", "api_key_sha256": "` + hexB + `", "connections": ["c1", "ghost"]},
    {"id": "a", "tenant": "Acme", "api_key_sha256": "` + hexB + `", "connections": []}
  ],
  "connections": [
    {"id": "c1", "tenant": "Acme", "connector": "hl7", "base_url": "http://user:pw@h.example/x?q=1",
     "auth": {"kind": "bearer"}, "timeout": "10m"},
    {"id": "c2", "tenant": "Acme", "connector": "fhir", "base_url": "gopher://h",
     "auth": {"kind": "none", "secret_ref": "env:X", "header": "X-Key"}}
  ]
}`
	_, probs := Parse([]byte(doc), "")
	got := map[string]bool{}
	for _, p := range probs {
		got[p.Path] = true
		if strings.Contains(p.Message, "pw") {
			t.Errorf("a credential echoed in %v", p)
		}
	}
	for _, want := range []string{
		"$.node.listen", "$.node.admin_listen", "$.node.region", "$.limits.max_request_body_bytes",
		"$.plugins[0].path", "$.plugins[0].sha256", "$.plugins[0].sandbox", "$.plugins[1].kind",
		"$.tenants[0].id", "$.tenants[0].secrets.provider", "$.tenants[0].audit.key_ref",
		"$.clients[0].tenant", "$.clients[0].connections[1]", "$.clients[1].id", "$.clients[1].api_key_sha256",
		"$.connections[0].connector", "$.connections[0].base_url", "$.connections[0].auth.secret_ref", "$.connections[0].timeout",
		"$.connections[1].base_url", "$.connections[1].auth.secret_ref", "$.connections[1].auth.header",
	} {
		if !got[want] {
			t.Errorf("no problem reported at %s", want)
		}
	}
	if t.Failed() {
		for _, p := range probs {
			t.Log(p)
		}
	}
}

func TestStrictDecodeStopsUnknownFields(t *testing.T) {
	_, probs := Parse([]byte(`{"nodes": {}, "tenants": [{"id": "a", "secretz": 1}]}`), "")
	if len(probs) != 2 || probs[0].Path != "$.nodes" || probs[1].Path != "$.tenants[0].secretz" {
		t.Fatalf("got %v", probs)
	}
	_, probs = Parse([]byte(`{"connections": [{"timeout": "ten seconds"}]}`), "")
	if len(probs) != 1 || probs[0].Path != "$.connections[0].timeout" {
		t.Fatalf("got %v", probs)
	}
}

func TestProductionRefusesDevOnlyFeatures(t *testing.T) {
	doc := strings.Replace(fmt.Sprintf(validDoc, hexA, hexB), `"dev_mode": true,`, ``, 1)
	_, probs := Parse([]byte(doc), "")
	paths := map[string]bool{}
	for _, p := range probs {
		paths[p.Path] = true
	}
	for _, want := range []string{"$.tenants[0].secrets.provider", "$.tenants[0].audit.key_ref", "$.connections[0].auth.secret_ref"} {
		if !paths[want] {
			t.Errorf("env secrets accepted outside dev_mode at %s", want)
		}
	}
}

// FuzzParse: the validator never panics, and a config it accepts is
// internally consistent.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(validDoc, hexA, hexB)))
	f.Add([]byte(`{"clients":[{"connections":["x"]}],"connections":[{"base_url":"http://[::1]:80/%2e%2e"}]}`))
	f.Add([]byte(`{"node":{"listen":"[::1]:1"},"connections":[{"timeout":"-1s","auth":{"kind":"basic","secret_ref":"env:"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, probs := Parse(data, "")
		if (c == nil) == (len(probs) == 0) {
			t.Fatalf("config %v with problems %v", c != nil, probs)
		}
		if c == nil {
			return
		}
		conns := map[string]string{}
		for _, cn := range c.Connections {
			conns[cn.ID] = cn.Tenant
		}
		for _, cl := range c.Clients {
			for _, id := range cl.Connections {
				if conns[id] != cl.Tenant {
					t.Fatalf("client %q may use connection %q of another tenant", cl.ID, id)
				}
			}
		}
	})
}

// TestSandboxOptOutWarns: a plugin let out of the kernel sandbox, or given
// what the kernel has, is valid but loud: ferry check prints a warning at
// its path.
func TestSandboxOptOutWarns(t *testing.T) {
	doc := strings.Replace(fmt.Sprintf(validDoc, hexA, hexB), `"sha256": "`+hexA+`"}`,
		`"sha256": "`+hexA+`", "sandbox": "off"}, {"kind": "hl7v2", "path": "p", "sha256": "`+hexA+`", "sandbox": "best_effort"}`, 1)
	c, probs := Parse([]byte(doc), "")
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	w := c.Warnings()
	if len(w) != 2 || w[0].Path != "$.plugins[0].sandbox" || w[1].Path != "$.plugins[1].sandbox" {
		t.Fatalf("warnings: %v", w)
	}
	c, _ = Parse([]byte(fmt.Sprintf(validDoc, hexA, hexB)), "")
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("warnings for a sandboxed catalog: %v", w)
	}
}
