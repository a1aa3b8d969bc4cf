// Command badtemplate is a test plugin whose source template describes a
// read request the connector does not send: the host would make a source
// request for nothing on every read.
package main

import (
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance/testdata/plugins/minimal"
)

func main() {
	connectors.Serve(func() connectors.Connector {
		return minimal.New("badtemplate", minimal.Faults{BadTemplate: true})
	})
}
