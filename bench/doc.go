// Package bench measures Ferry against what a user would run instead, and
// against its own targets (docs/performance.md has the figures).
//
//   - harness/ is the side-by-side harness: an upstream fixture, an
//     open-loop load generator, and a runner that measures Ferry beside
//     nginx, a bare fasthttp proxy and the fixture alone, workloads W1–W6;
//     cmd/ferry-bench is its entry point (`make bench`).
//   - hotpath/ holds the micro-benchmarks and allocation budgets of the
//     request path (`make bench-micro`).
//   - This package's own tests are the benches that need the proxy in
//     process: per-tenant memory (BenchmarkTenantMemory), the isolation of
//     a failing source's neighbours (TestResilienceIsolation, `make
//     bench-resilience`) and the Secrets Manager calls per request at
//     steady state (TestSecretsManagerCallsPerRequest).
package bench
