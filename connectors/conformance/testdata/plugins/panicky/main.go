// Command panicky is a test plugin whose mapper trusts the source's answer
// and panics on a malformed one.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance/testdata/plugins/minimal"
)

func main() {
	connectors.Serve(func() connectors.Connector { return minimal.New("panicky", minimal.Faults{Panic: true}) })
}
