// Package secrets resolves credential references to values, in memory only.
//
// A Value never prints: String, GoString, Format and MarshalJSON all give
// "REDACTED", so a secret that reaches a log line, an error or a JSON body
// by mistake shows up as that word instead of the secret.
//
// Providers: "env" (dev and demo only: `env:NAME` reads the environment,
// `literal:VALUE` is the value itself). The tenant-owned AWS Secrets Manager
// provider plugs in behind the same interface.
package secrets
