// Command crasher is a test plugin that maps in a goroutine of its own, so
// a malformed answer panics outside the SDK's recover and kills the process.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance/testdata/plugins/minimal"
)

func main() {
	connectors.Serve(func() connectors.Connector { return minimal.New("crasher", minimal.Faults{Crash: true}) })
}
