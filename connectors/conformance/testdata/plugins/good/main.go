// Command good is the minimal test connector with no fault: the cheap
// plugin that passes.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance/testdata/plugins/minimal"
)

func main() {
	connectors.Serve(func() connectors.Connector { return minimal.New("good", minimal.Faults{}) })
}
