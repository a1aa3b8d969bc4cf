// Package plugins is the host side of Ferry's connector plugins: it starts
// each plugin binary from the catalog after verifying its SHA-256, runs
// go-plugin's handshake and gRPC health probes over the control plane (a
// Unix socket with mutual TLS, which also carries Metadata and Configure),
// hands the plugin its data plane (one end of an unnamed socket pair, the
// child's fd 3) and restarts it with backoff when it dies or its data plane
// breaks.
//
// Every read and search travels on the data plane (connectors.HostConn).
// When a connection's template (connectors.SourceTemplate) describes a
// call's first source request, the host makes it before the call and sends
// the answer along, so the call costs one round trip between the processes
// instead of two (wireclient.go).
//
// To the rest of Ferry a plugin is just a connectors.Connector: Host.Connector
// returns a stable value that forwards each call to whichever process is
// currently running, so a restart is invisible except to the calls that were
// in flight when the old process died.
//
// A plugin is untrusted code. It gets no environment from the host (so no
// AWS credentials and no dev-mode secrets), its stderr is discarded (it may
// print PHI), and it reaches a source only through the host, for a call
// the host is making to it: every in-band source request names a call id
// the host minted for one request in flight and forgets when it ends, and
// is served through that call's transport.
//
// Every plugin starts fenced in by the kernel (package sandbox: no network
// sockets, no files, no exec but of itself, no new processes, dead with
// the host), exec'd from the descriptor whose SHA-256 was checked.
package plugins
