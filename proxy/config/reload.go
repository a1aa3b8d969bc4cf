package config

import "reflect"

// ReloadProblems lists what a running node cannot take from next without
// a restart, each at its JSON path: the node itself (its listeners, region,
// TLS, drain and retry settings), the limits, dev_mode, the cursor keys,
// a plugin kind added or removed, and the event plumbing: a connection's
// inbound feed and a client's webhook subscriptions (their listeners and
// deliverers start with the process). Tenants, clients, connections,
// regions, misdirected and a plugin's binary, checksum or sandbox (the
// plugin is replaced) reload. A reload with any of these problems is
// refused whole, and the running configuration keeps serving.
func ReloadProblems(running, next *Config) []Problem {
	var out []Problem
	same := func(path string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, Problem{Path: path, Message: "changes only with a restart"})
		}
	}
	same("$.dev_mode", running.DevMode, next.DevMode)
	same("$.node", running.Node, next.Node)
	same("$.limits", running.Limits, next.Limits)
	same("$.cursor", running.Cursor, next.Cursor)
	kinds := func(c *Config) map[string]bool {
		m := map[string]bool{}
		for _, p := range c.Plugins {
			m[p.Kind] = true
		}
		return m
	}
	if !reflect.DeepEqual(kinds(running), kinds(next)) {
		out = append(out, Problem{Path: "$.plugins", Message: "a plugin kind added or removed changes only with a restart"})
	}
	feeds := func(c *Config) map[string]*Feed {
		m := map[string]*Feed{}
		for _, cn := range c.Connections {
			if cn.Feed != nil {
				m[cn.Tenant+"/"+cn.ID] = cn.Feed
			}
		}
		return m
	}
	if !reflect.DeepEqual(feeds(running), feeds(next)) {
		out = append(out, Problem{Path: "$.connections", Message: "an inbound feed added, removed or changed changes only with a restart"})
	}
	hooks := func(c *Config) map[string][]Webhook {
		m := map[string][]Webhook{}
		for _, cl := range c.Clients {
			if len(cl.Webhooks) > 0 {
				m[cl.Tenant+"/"+cl.ID] = cl.Webhooks
			}
		}
		return m
	}
	if !reflect.DeepEqual(hooks(running), hooks(next)) {
		out = append(out, Problem{Path: "$.clients", Message: "a webhook subscription added, removed or changed changes only with a restart"})
	}
	return out
}

// Plugin returns the catalog entry of kind, or nil.
func (c *Config) Plugin(kind string) *Plugin {
	for i := range c.Plugins {
		if c.Plugins[i].Kind == kind {
			return &c.Plugins[i]
		}
	}
	return nil
}
