// Command badversion is a test plugin built for a connector protocol major
// the host does not speak: its handshake announces ProtocolVersion+1.
package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance/testdata/plugins/minimal"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
)

type p struct{ plugin.NetRPCUnsupportedPlugin }

func (p) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterConnectorServer(s, connectors.NewControlServer(minimal.New("badversion", minimal.Faults{})))
	return nil
}

func (p) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("no client")
}

func main() {
	hs := connectors.Handshake
	hs.ProtocolVersion = connectors.ProtocolVersion + 1
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         plugin.PluginSet{connectors.PluginName: p{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
