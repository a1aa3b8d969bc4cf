// Package proto holds the protobuf definition of the host–plugin wire
// protocol. The generated Go code lives in connectorv2; regenerate it with
// `make generate` and never edit it by hand (`make check-generated` fails
// when it is out of sync).
package proto
