// Command ferry-connector-fhir is the FHIR R4 connector as a plugin binary.
//
// Ferry's host starts it (from a plugin catalog entry that pins its SHA-256)
// and talks to it over go-plugin; it is not meant to be run by hand. All of
// its behaviour lives in package connectors/fhir, so that the same connector
// also runs in-process in tests and benchmarks.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
)

func main() { connectors.Serve(fhir.New) }
