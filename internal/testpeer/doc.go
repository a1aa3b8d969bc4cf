// Package testpeer starts real third-party systems ("peers") for Ferry's
// tests, on 127.0.0.1, owned by the test that starts them.
//
// Ferry's connectors are only as good as the servers they are tested
// against, so tests talk to real implementations rather than hand-written
// fakes. Each peer lives under testdata/peers/NAME in the repository, is
// started as a child process in its own process group, reports readiness on
// stdout, and is killed in t.Cleanup.
//
// Peers that need installed dependencies fail the test (they never skip) when
// those are missing: a skipped integration test looks like a passing one. Run
// `make test-deps` once per checkout to install them.
//
// The FHIR R4 peer is Medplum's FHIR router (in memory) behind a small Node
// HTTP front; see StartMedplum and testdata/peers/medplum/README.md.
//
// The launchers are Unix-only (they rely on process groups to kill a peer
// and everything it spawned); on other systems the package has no launchers.
package testpeer
