// Package harness measures Ferry the way a skeptical user would: side by
// side, in the same run on the same machine, with what they would run
// instead.
//
// The pieces:
//
//   - an upstream fixture (fixture.go): deterministic FHIR R4 answers
//     built from the sandbox's synthetic data — a Patient of any id,
//     searchset Bundles of N Observations with absolute self and next
//     links — with optional latency, jitter and errors, and a slow path
//     (ids starting "slow-", 50 ms) for W6;
//   - a load generator (loadgen.go): a closed loop that finds a target's
//     capacity, and an open loop at a fixed rate that measures latency from
//     each request's scheduled send time, so a stalled target is charged
//     for the requests it held up (no coordinated omission);
//   - the targets (targets.go): direct (the fixture), Debian's nginx as a
//     keep-alive pass-through, a bare fasthttp reverse proxy (the Go
//     floor, fastproxy.go), and the real bin/ferry serve with the real
//     ferry-connector-fhir plugin, from a generated dev_mode config;
//   - the runner (runner.go, report.go): rounds in which every workload
//     (workloads.go, W1–W6) runs on every target in a rotated order, CPU
//     per request from /proc (the server side only), peak RSS, allocations
//     per request, a markdown table and the raw CSV.
//
// On a machine with two CPUs or more the load generator runs on CPU 0 and
// the whole server side (fixture, proxies, plugins) on CPU 1.
//
// The entry point is bench/cmd/ferry-bench; docs/performance.md has the
// figures and how to read them.
package harness
