//go:build !race

package auditlog

// raceEnabled lets allocation tests skip under -race, where sync.Pool
// deliberately drops items and allocation counts mean nothing.
const raceEnabled = false
