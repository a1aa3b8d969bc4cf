package config

import (
	"fmt"
	"strings"
	"testing"
)

// mllpDoc is a config with one HL7 v2 connection; %s is its base URL, %t
// allow_insecure_http, and the last %s its auth kind.
const mllpDoc = `{
  "dev_mode": true,
  "node": {"listen": "127.0.0.1:8080", "admin_listen": "127.0.0.1:9090", "region": "us"},
  "plugins": [{"kind": "hl7v2", "path": "ferry-connector-hl7v2", "sha256": "` + "%[4]s" + `"}],
  "tenants": [{"id": "acme", "secrets": {"provider": "env"}, "audit": {"key_ref": "env:ACME_AUDIT"}}],
  "connections": [
    {"id": "pdq", "tenant": "acme", "connector": "hl7v2", "base_url": %[1]q, "allow_insecure_http": %[2]t,
     "auth": {"kind": %[3]q, "secret_ref": "env:X"}}
  ]
}`

func TestMLLPBaseURL(t *testing.T) {
	for _, c := range []struct {
		url      string
		insecure bool
		auth     string
		want     string // a fragment of the one problem at base_url; "" for none
	}{
		{"mllps://pdq.example:2575", false, "none", ""},
		{"mllps://pdq.example:2575/", false, "none", ""},
		{"mllp://127.0.0.1:2575", true, "none", ""},
		{"mllp://127.0.0.1:2575", false, "none", "allow_insecure_http"},
		{"mllps://pdq.example", false, "none", "needs a port"},
		{"mllps://pdq.example:2575/pdq", false, "none", "no path"},
		{"mllps://pdq.example:2575", false, "bearer", `auth kind "none"`},
		{"tcp://pdq.example:2575", false, "none", "mllps or mllp"},
	} {
		doc := fmt.Sprintf(mllpDoc, c.url, c.insecure, c.auth, hexA)
		if c.auth == "none" {
			doc = strings.Replace(doc, `, "secret_ref": "env:X"`, "", 1)
		}
		_, probs := Parse([]byte(doc), "")
		var at []Problem
		for _, p := range probs {
			if p.Path == "$.connections[0].base_url" {
				at = append(at, p)
			}
		}
		switch {
		case c.want == "" && len(at) > 0:
			t.Errorf("%s: refused: %v", c.url, at)
		case c.want != "" && (len(at) != 1 || !strings.Contains(at[0].Message, c.want)):
			t.Errorf("%s (auth %s): got %v, want one problem about %q", c.url, c.auth, at, c.want)
		}
	}
}
