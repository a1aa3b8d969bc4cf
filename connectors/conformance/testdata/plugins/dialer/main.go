// Command dialer is a test plugin that opens network sockets of its own
// instead of using the host's Transport only.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance/testdata/plugins/minimal"
)

func main() {
	connectors.Serve(func() connectors.Connector { return minimal.New("dialer", minimal.Faults{Dial: true}) })
}
