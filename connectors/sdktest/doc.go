// Package sdktest runs a connector in-process, the way the host would call
// it, against an upstream the test chooses: an http.Handler (a fake, or
// answers recorded from a real source and replayed from a txtar file) or a
// live base URL; or, for a connector that sends messages with
// Transport.Exchange (HL7 v2 over MLLP), a function answering each message
// (Options.Messages). Connector authors unit-test mappings, paging and
// error handling with it, without the host, a plugin process or a network.
//
// The Transport it lends the connector applies the host transport's rules
// (connectors.ValidRelativePath, read-only methods, the header allowlists,
// the body cap, the deadline): a connector that passes here asks the host
// for nothing it would refuse. A Harness checks, like the host, that
// search parameters are declared in the manifest and normalises standard
// filters as the host does, and checks every record returned against the
// unified model (strictly: an unknown field is an error).
//
// Golden runs one subtest per txtar case file and rewrites the expected
// output with the test's -update flag (which the test defines).
//
// Recordings may hold whatever the source returned: record only from
// synthetic or sandbox sources, never from one holding real patients.
package sdktest
