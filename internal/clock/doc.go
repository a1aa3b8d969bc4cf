// Package clock is the one time Ferry's decisions read and the one way they
// wait: the guard's holds, bulkhead waits, pacing and retry backoff, the
// audit delivery's flush, backoff and checkpoints, and the plugin host's
// restart backoff all go through a Clock, so that a test can give them one
// of its own and every wait honours a context the same way (Sleep).
//
// System is the real clock; Manual is a clock that moves only when a test
// moves it. Code takes a Clock where it is built and keeps it; nil means
// System (Or).
package clock
