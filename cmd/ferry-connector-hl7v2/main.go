// Command ferry-connector-hl7v2 is the HL7 v2 connector (IHE Patient
// Demographics Query over MLLP) as a plugin binary.
//
// Ferry's host starts it (from a plugin catalog entry that pins its SHA-256)
// and talks to it over go-plugin; it is not meant to be run by hand. It
// never opens a socket: its queries go out through the host's MLLP
// transport (Transport.Exchange). All of its behaviour lives in package
// connectors/hl7v2, so that the same connector also runs in-process in
// tests and benchmarks.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/hl7v2"
)

func main() { connectors.Serve(hl7v2.New) }
