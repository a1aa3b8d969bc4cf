package config

import "reflect"

// ReloadProblems lists what a running node cannot take from next without
// a restart, each at its JSON path: the node itself (its listeners, region,
// TLS, drain and retry settings), the limits, dev_mode, the cursor keys,
// and a plugin kind added or removed. Tenants, clients, connections,
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
