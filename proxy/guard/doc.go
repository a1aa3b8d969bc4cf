// Package guard admits requests to one connection and takes their outcome
// back: the hold a source's Retry-After puts on the connection, its circuit
// breaker (sony/gobreaker), its bulkhead, the pacer spacing its calls to
// the source (go.uber.org/ratelimit) and the budget its retries draw on.
// All of it is per replica and in memory: nothing is shared between
// replicas (a shared store would bring storage into a zero-storage
// product).
//
// A request meets these in this order (docs/resilience.md): the hold and
// the breaker when it is admitted (Guard.Admit), then the bulkhead, all
// before the plugin is called; it gets a Ticket, which it settles with its
// Outcome however it ends. Every source call made for it then goes through
// Guard.Call: the hold and the pacer before each attempt, the retry budget
// and the backoff between attempts.
//
// The guard sees numbers, never a request: an Outcome is what the source
// call record and the verdict say of a request, and the classification of
// an Outcome for the breaker (Outcome.effect) is a pure function, tested
// by table. Time comes from the clock it is given (internal/clock), except
// the breaker's own windows, which gobreaker keeps on the wall clock.
package guard
