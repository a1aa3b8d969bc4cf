//go:build race

package fhir

// raceEnabled: the race detector multiplies allocations (and sync.Pool
// drops what it is given at random), so allocation budgets are not checked
// under it.
const raceEnabled = true
