//go:build race

package auditlog

// raceEnabled: the race detector adds allocations, so allocation counts are
// not asserted under -race.
const raceEnabled = true
