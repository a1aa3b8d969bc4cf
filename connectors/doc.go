// Package connectors is the contract between Ferry and the code that speaks
// to one kind of source system (a connector), and the SDK a connector author
// uses to ship it as a plugin binary.
//
// One interface, two homes: a Connector runs in-process in tests and
// benchmarks, and out-of-process in the product, where its main calls
// Serve. Either way it reaches its source only through the Transport it is
// handed on each request: it never sees a credential, never knows the
// source's host name, and never opens a socket of its own. The Transport
// speaks HTTP (Do); for sources that exchange messages instead (HL7 v2 over
// MLLP) it is also an Exchanger, one message in and one answer out.
//
// Every method takes (ctx, *XRequest) and returns (*XResponse, error), so
// fields can be added without breaking connectors. Errors that should reach
// the client as something other than a generic connector failure are
// *Error values with a Code.
//
// This package is the root of the SDK module
// (github.com/ferryhealth/ferry/connectors), which third parties import
// without pulling the host: the wire protocol (proto/), mapping helpers
// (mapping/), in-process tests (sdktest/), the conformance kit
// (conformance/) and the template for new connectors (template/). Its
// dependencies are an allowlist (deps_test.go). The rules the host applies
// to a manifest (MetadataResponse.Validate) and to Transport requests
// (ValidRelativePath, ReadMethod, the header allowlists) are published here
// so that sdktest and the kit enforce exactly what the product does. See
// docs/connector-authoring.md.
package connectors
