package config

import (
	"strings"
	"testing"
)

func TestReloadProblems(t *testing.T) {
	base := func() *Config {
		return &Config{
			Node:    Node{Region: "eu"},
			Plugins: []Plugin{{Kind: "hl7v2", Path: "/a"}},
			Clients: []Client{{ID: "app", Tenant: "t1", Webhooks: []Webhook{{ID: "w", URL: "https://a.example/hook"}}}},
			Connections: []Connection{{ID: "adt", Tenant: "t1", Connector: "hl7v2",
				Feed: &Feed{Listen: "127.0.0.1:2575", SendingApplication: "EPIC", SendingFacility: "H1"}}},
		}
	}
	cases := []struct {
		name   string
		change func(*Config)
		path   string // "" for no problem
	}{
		{"nothing", func(*Config) {}, ""},
		{"a plugin's binary", func(c *Config) { c.Plugins[0].Path = "/b" }, ""},
		{"a client added", func(c *Config) { c.Clients = append(c.Clients, Client{ID: "b", Tenant: "t1"}) }, ""},
		{"a connection without a feed added", func(c *Config) {
			c.Connections = append(c.Connections, Connection{ID: "pdq", Tenant: "t1", Connector: "hl7v2"})
		}, ""},
		{"the node", func(c *Config) { c.Node.Region = "us" }, "$.node"},
		{"a plugin kind added", func(c *Config) { c.Plugins = append(c.Plugins, Plugin{Kind: "fhir"}) }, "$.plugins"},
		{"a feed changed", func(c *Config) { c.Connections[0].Feed.SendingFacility = "H2" }, "$.connections"},
		{"a feed removed", func(c *Config) { c.Connections[0].Feed = nil }, "$.connections"},
		{"a feed's connection removed", func(c *Config) { c.Connections = nil }, "$.connections"},
		{"a webhook changed", func(c *Config) { c.Clients[0].Webhooks[0].URL = "https://b.example/hook" }, "$.clients"},
		{"a webhook added", func(c *Config) {
			c.Clients = append(c.Clients, Client{ID: "b", Tenant: "t1", Webhooks: []Webhook{{ID: "x", URL: "https://c.example"}}})
		}, "$.clients"},
	}
	for _, c := range cases {
		next := base()
		c.change(next)
		probs := ReloadProblems(base(), next)
		var paths []string
		for _, p := range probs {
			paths = append(paths, p.Path)
		}
		if got := strings.Join(paths, ","); got != c.path {
			t.Errorf("%s: problems at %q, want %q", c.name, got, c.path)
		}
	}
}
