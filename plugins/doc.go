// Package plugins is the host side of Ferry's connector plugins: it starts
// each plugin binary from the catalog after verifying its SHA-256, talks to
// it over go-plugin's gRPC with AutoMTLS, and restarts it with backoff when
// it dies. Reads and searches, and the plugin's Transport calls for them,
// travel on one long-lived Session stream per process (session.go); a
// plugin built with an SDK older than Session is called unary, with the
// host's Transport service lent over the GRPCBroker.
//
// To the rest of Ferry a plugin is just a connectors.Connector: Host.Connector
// returns a stable value that forwards each call to whichever process is
// currently running, so a restart is invisible except to the calls that were
// in flight when the old process died.
//
// A plugin is untrusted code. It gets no environment from the host (so no
// AWS credentials and no dev-mode secrets), its stderr is discarded (it may
// print PHI), and it can use the Transport (Do for HTTP sources, Exchange
// for MLLP ones) only for calls the host is currently making to it: every
// Transport request carries a call id that the host minted for one
// in-flight request and forgets when it ends.
//
// Every plugin starts fenced in by the kernel (package sandbox: no network,
// no files, no exec, no new processes, dead with the host), exec'd from the
// descriptor whose SHA-256 was checked.
package plugins
