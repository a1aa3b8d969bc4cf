//go:build race

package connectors

// raceEnabled: the race detector multiplies allocations, so allocation
// budgets are reported but not enforced under -race.
const raceEnabled = true
