// Command fhir is the FHIR connector as a plugin, built from inside the SDK
// module: the conformance kit's reference for a plugin that passes.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
)

func main() { connectors.Serve(fhir.New) }
