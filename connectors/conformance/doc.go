// Package conformance is the connector conformance kit: it starts a plugin
// binary the way the Ferry host does and checks that it behaves as the host
// needs, whoever wrote it. Authors run it from their tests with Run; the
// `ferry plugin check PATH` command runs the same checks and prints the
// report.
//
// The kit starts the binary with go-plugin's handshake (the SDK's
// connectors.Handshake: magic cookie and protocol major), the control plane
// over gRPC with AutoMTLS, an empty environment, the data plane on the
// child's fd 3 and, where the machine allows it, a network namespace of its
// own with no interface but a loopback that is down. It calls the plugin
// through the host's own end of the data plane (connectors.HostConn), with a
// fake source Transport per call, and scripts that Transport's answers per
// check: well-formed statuses, malformed, truncated and huge bodies, a
// source that hangs. It never imports the host.
//
// The checks, in order (each reports PASS, FAIL or SKIP with a reason):
//
//   - handshake: the binary starts and completes the handshake with this
//     SDK's protocol major.
//   - manifest: Metadata answers, reports this protocol version, and passes
//     connectors.(*MetadataResponse).Validate (resources known to unified,
//     operations, filter names, required ⊆ declared); the kind matches
//     Options.Kind when given.
//   - configure: the connection configures with Options.Settings; settings
//     with an unknown field, and settings that are not an object, are
//     refused with invalid_argument.
//   - unknown_resource: Read and Search of a resource the manifest does not
//     list answer unsupported.
//   - bad_input: a search without its required filters, with an undeclared
//     parameter or a garbage page token, and calls on a connection never
//     configured, answer a typed error (never internal, never a panic).
//   - upstream_status: a source 404 on a read is not_found; 401, 403, 429
//     and 5xx answers are upstream (or source_unavailable); a Transport
//     error comes back with its own code.
//   - malformed_upstream: empty, non-JSON, truncated, wrongly typed, deeply
//     nested, invalid UTF-8, random and huge (16 MiB, the host's default
//     cap) bodies give upstream or a valid record, never a panic, a crash or
//     a hang.
//   - deadline: the plugin passes the request's deadline to Transport.Do and
//     abandons the call when it passes; a Transport that times out gives
//     upstream_timeout within the deadline plus Options.Margin (2s by default).
//   - templates: every source template the connection's Configure returned
//     (connectors.SourceTemplate) matches the first request the connector
//     makes for that operation, so the host's prefetch is never wasted.
//   - records: every record returned decodes strictly into its unified type
//     with a readable id and provenance (connection, system, fetch time).
//   - transport_rules: every Transport request used a path relative to the
//     base URL, a read-only method, and only the headers the host passes on.
//   - process: the plugin process is the one started, alive, and its data
//     plane still open (a request outside a call is refused by the host's
//     end of the data plane, which the kit uses).
//   - network: the plugin opened no network socket of its own. In a private
//     network namespace the namespace's own counters (TCP opens, UDP
//     datagrams, packets with no route) and socket tables catch any attempt,
//     even a failed one. Without one (no privilege for namespaces), the kit
//     samples /proc/<pid>/fd and /proc/<pid>/net/{tcp,tcp6,udp,udp6,raw,raw6}
//     every few milliseconds while it exercises the plugin, and at the end:
//     a connection opened and closed between two samples can then be missed,
//     which the report says.
//   - sandbox: with Options.Sandbox (the host's kernel sandbox, which
//     `ferry plugin check` passes), the plugin process runs under it
//     (/proc/<pid>/status: no_new_privs and a seccomp filter), and a probe
//     started through the same sandbox (the kit's own binary, re-executed
//     to run package escape) fails every escape: TCP, UDP, DNS, raw and
//     netlink sockets, the kit's abstract Unix socket, creating files in
//     the temp, working and socket directories, reading a config and a
//     planted file, chmod, fork, exec, ptrace and signals to the kit.
//     Without Options.Sandbox it is skipped: the SDK has no sandbox.
//
// The kit is a conformance check, not a sandbox: a plugin that behaves only
// while it is watched is not caught by the network check. The product's
// containment does not depend on it: the host runs every plugin in the
// kernel sandbox (no network sockets, no files, no exec but of itself), which the sandbox check
// verifies is in force.
package conformance
