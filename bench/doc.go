// Package bench will hold Ferry's benchmark harness: an upstream fixture,
// an open-loop load generator and a runner that measures Ferry side by side
// with nginx and a bare fasthttp proxy. Micro-benchmarks of the hot path
// live next to the code they measure (`go test -bench`).
package bench
