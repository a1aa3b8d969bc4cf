package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// eventsDoc is a config with an hl7v2 connection that has a feed and a
// client with one webhook; tests change it through the decoded map.
var eventsDoc = `{
  "dev_mode": %DEV%,
  "node": {"listen": "127.0.0.1:8080", "admin_listen": "127.0.0.1:9090", "region": "us", "tls": {"cert_file": "c", "key_file": "k"}},
  "cursor": {"keys": [{"id": "k1", "secret_ref": "env:CURSOR"}]},
  "plugins": [{"kind": "hl7v2", "path": "ferry-connector-hl7v2", "sha256": "` + hexA + `"}],
  "tenants": [{"id": "acme", "secrets": {"provider": "env"}, "audit": {"key_ref": "env:ACME_AUDIT"}}],
  "connections": [
    {"id": "adt", "tenant": "acme", "connector": "hl7v2", "base_url": "mllps://pdq.example:2575", "auth": {"kind": "none"},
     "feed": {"listen": "127.0.0.1:2575", "sending_application": "EPICADT", "sending_facility": "RIVERSIDE"}}
  ],
  "clients": [{"id": "app", "tenant": "acme", "api_key_sha256": "` + hexA + `", "connections": ["adt"],
    "webhooks": [{"id": "alerts", "url": "https://alerts.example/ferry", "secret_refs": ["env:WHSEC"]}]}]
}`

func eventsConfig(t *testing.T, dev bool, mod func(feed, hook map[string]any)) (*Config, []Problem) {
	t.Helper()
	var m map[string]any
	doc := strings.Replace(eventsDoc, "%DEV%", map[bool]string{true: "true", false: "false"}[dev], 1)
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	feed := m["connections"].([]any)[0].(map[string]any)["feed"].(map[string]any)
	hook := m["clients"].([]any)[0].(map[string]any)["webhooks"].([]any)[0].(map[string]any)
	if mod != nil {
		mod(feed, hook)
	}
	b, _ := json.Marshal(m)
	return Parse(b, "")
}

func TestEventDefaults(t *testing.T) {
	c, probs := eventsConfig(t, true, nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	f, w := c.Connections[0].Feed, c.Clients[0].Webhooks[0]
	if f.AckBudget.D() != 5*time.Second || f.OnFailure != "ae" || f.MaxFrameBytes != 1<<20 || f.MaxConnections != 8 ||
		f.IdleTimeout.D() != 5*time.Minute || f.FrameTimeout.D() != 10*time.Second {
		t.Errorf("feed defaults: %+v", f)
	}
	if w.Payload != "ids" || len(w.EventTypes) != 1 || w.EventTypes[0] != "*" || w.BreakerFailures != 5 || w.BreakerOpenFor.D() != 30*time.Second {
		t.Errorf("webhook defaults: %+v", w)
	}
}

func TestEventProblems(t *testing.T) {
	for _, c := range []struct {
		name string
		dev  bool
		mod  func(feed, hook map[string]any)
		path string
		want string
	}{
		{"plain feed off loopback", false, func(f, _ map[string]any) { f["listen"] = "0.0.0.0:2575"; f["allowed_cidrs"] = []string{"10.0.0.0/8"} },
			"$.connections[0].feed.listen", "needs tls"},
		{"unauthenticated senders", false, func(f, _ map[string]any) {
			f["listen"] = "0.0.0.0:2575"
			f["tls"] = map[string]any{"cert_file": "c", "key_file": "k"}
		}, "$.connections[0].feed", "authenticated"},
		{"bad cidr", true, func(f, _ map[string]any) { f["allowed_cidrs"] = []string{"10.0.0.0"} }, "$.connections[0].feed.allowed_cidrs[0]", "CIDR"},
		{"no sender", true, func(f, _ map[string]any) { delete(f, "sending_application") }, "$.connections[0].feed.sending_application", "required"},
		{"sender with a delimiter", true, func(f, _ map[string]any) { f["sending_facility"] = "A^B" }, "$.connections[0].feed.sending_facility", "MSH-4"},
		{"budget too long", true, func(f, _ map[string]any) { f["ack_budget"] = "2m" }, "$.connections[0].feed.ack_budget", "1m0s"},
		{"on_failure", true, func(f, _ map[string]any) { f["on_failure"] = "ca" }, "$.connections[0].feed.on_failure", "ae"},
		{"pins without a CA", true, func(f, _ map[string]any) {
			f["tls"] = map[string]any{"cert_file": "c", "key_file": "k", "client_cert_sha256": []string{hexA}}
		}, "$.connections[0].feed.tls.client_ca_file", "required"},
		{"http webhook", false, func(_, h map[string]any) { h["url"] = "http://alerts.example/" }, "$.clients[0].webhooks[0].url", "https"},
		{"unknown event type", true, func(_, h map[string]any) { h["event_types"] = []string{"encounter.begun"} }, "$.clients[0].webhooks[0].event_types[0]", "not an event type"},
		{"foreign connection", true, func(_, h map[string]any) { h["connections"] = []string{"other"} }, "$.clients[0].webhooks[0].connections[0]", "not one of the client's"},
		{"payload", true, func(_, h map[string]any) { h["payload"] = "everything" }, "$.clients[0].webhooks[0].payload", "ids"},
		{"no secret", true, func(_, h map[string]any) { delete(h, "secret_refs") }, "$.clients[0].webhooks[0].secret_refs", "at least one"},
		{"literal secret outside dev", false, func(_, h map[string]any) { h["secret_refs"] = []string{"literal:whsec_x"} }, "$.clients[0].webhooks[0].secret_refs[0]", "dev_mode"},
	} {
		_, probs := eventsConfig(t, c.dev, c.mod)
		found := false
		for _, p := range probs {
			if p.Path == c.path && strings.Contains(p.Message, c.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no problem at %s about %q in %v", c.name, c.path, c.want, probs)
		}
	}
	// A field the schema does not know is refused with its path.
	_, probs := eventsConfig(t, true, func(f, _ map[string]any) { f["ack_timeout"] = "5s" })
	if len(probs) == 0 || !strings.Contains(probs[0].Path, "feed") {
		t.Errorf("unknown field: %v", probs)
	}
}
