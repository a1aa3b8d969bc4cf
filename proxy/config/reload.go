package config

import "reflect"

// ReloadProblems lists what a running node cannot take from next without
// a restart, each at its JSON path: the node itself (its listeners, region,
// TLS, drain and retry settings), the limits, dev_mode, the cursor keys
// and the plugins' catalog (a plugin whose binary or checksum changes, or
// a kind added or removed, means starting a process). Tenants, clients,
// connections, regions and misdirected reload. A reload with any of these
// problems is refused whole, and the running configuration keeps serving.
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
	same("$.plugins", running.Plugins, next.Plugins)
	return out
}
