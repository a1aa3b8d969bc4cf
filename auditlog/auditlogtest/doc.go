// Package auditlogtest is an audit trail for the tests of code that emits
// audit events (the proxy's Auditor): a Recorder admits every request and
// keeps every event, in the order emitted, with no chain, queue or sink.
// Tests of the trail itself (chains, delivery, sinks) use package auditlog.
package auditlogtest
