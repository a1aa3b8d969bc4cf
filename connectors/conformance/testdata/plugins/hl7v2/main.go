// Command hl7v2 is the HL7 v2 connector as the conformance tests build it
// from this module: the same code as cmd/ferry-connector-hl7v2.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/hl7v2"
)

func main() { connectors.Serve(hl7v2.New) }
