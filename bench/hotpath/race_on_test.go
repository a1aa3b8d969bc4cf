//go:build race

package hotpath

// raceEnabled: the race detector multiplies allocations, so ceilings on
// them are not checked under it.
const raceEnabled = true
