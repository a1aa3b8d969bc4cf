// Package hotpath holds micro-benchmarks of Ferry's request path and an
// allocation test for it, written from outside the product packages: the
// proxy in-process on an in-memory listener, the real FHIR plugin behind
// the real plugin host, the connector's mapping, cursor sealing and audit
// enqueueing. The side-by-side harness is package harness next door.
package hotpath
