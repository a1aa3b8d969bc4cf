// Package secrets resolves credential references to values, in memory only.
//
// A Value never prints: String, GoString, Format and MarshalJSON all give
// "REDACTED", so a secret that reaches a log line, an error or a JSON body
// by mistake shows up as that word instead of the secret.
//
// Providers: "env" (dev and demo only: `env:NAME` reads the environment,
// `literal:VALUE` is the value itself) and, in package awssm, the
// tenant-owned AWS Secrets Manager provider, which also implements Refresher
// for the forced refresh that follows a source's 401.
package secrets
