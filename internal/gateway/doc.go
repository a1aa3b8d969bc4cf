// Package gateway assembles a running Ferry from a loaded config: the tenant
// secrets, the audit trail, the connectors (the plugin host, each plugin in
// its kernel sandbox), the proxy and its API and admin listeners; and shuts
// it down in order (requests, plugins, then the audit trail's last
// checkpoints). `ferry serve` and `ferry demo` start it; the benchmark
// harness starts it with the connectors in-process, to price the plugin
// hop beside the whole pipeline.
package gateway
