package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
	"github.com/ferryhealth/ferry/unified"
)

// DataPlaneFD is the file descriptor on which a plugin finds its data
// plane: one end of a socketpair, which the host passes as the child's
// first extra file.
const DataPlaneFD = 3

// Serve runs a connector as a plugin process: it answers the host's
// handshake, serves the control plane (Metadata, Configure) over go-plugin's
// gRPC and every call on the data plane, until the host goes away. A
// plugin's main is one line: connectors.Serve(fhir.New).
func Serve(factory func() Connector) {
	impl := factory()
	if os.Getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue {
		// Started by a host: the data plane is there. (Run by hand, the
		// binary gets go-plugin's explanation below instead.)
		conn, err := dataPlane()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ferry connector:", err)
			os.Exit(1)
		}
		go func() {
			err := ServeDataPlane(conn, impl)
			// Without its data plane the plugin can serve nothing; exiting
			// lets the host restart it.
			if err != nil {
				os.Exit(1)
			}
			os.Exit(0)
		}()
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &servePlugin{impl: impl}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// dataPlane returns the socket the host handed the plugin.
func dataPlane() (net.Conn, error) {
	f := os.NewFile(DataPlaneFD, "ferry-data-plane")
	if f == nil {
		return nil, errNoDataPlane
	}
	conn, err := net.FileConn(f)
	_ = f.Close() // FileConn holds its own descriptor
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", errNoDataPlane, err)
	}
	return conn, nil
}

// ServeDataPlane serves impl on the plugin's end of a data plane until the
// host closes it; it returns nil then. Serve runs it on the socket the host
// handed the process; tests and benchmarks run it on one end of a socket
// pair, with a HostConn on the other, to price the hop without a process.
func ServeDataPlane(conn net.Conn, impl Connector) error {
	err := serveDataPlane(conn, impl)
	_ = conn.Close()
	if err == nil || errors.Is(err, net.ErrClosed) || isEOF(err) {
		return nil
	}
	return err
}

// servePlugin is the plugin half of go-plugin's GRPCPlugin; the host half
// lives in package plugins.
type servePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Connector
}

func (p *servePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterConnectorServer(s, NewControlServer(p.impl))
	return nil
}

func (p *servePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("connectors: the plugin side has no client")
}

// NewControlServer adapts a Connector to the control plane's gRPC service.
// It is exported for test plugins that call plugin.Serve themselves.
func NewControlServer(impl Connector) pb.ConnectorServer {
	return &controlServer{impl: impl}
}

type controlServer struct {
	pb.UnimplementedConnectorServer
	impl Connector
}

func (s *controlServer) Metadata(ctx context.Context, _ *pb.MetadataRequest) (resp *pb.MetadataResponse, err error) {
	defer recoverInto(&err)
	m, err := s.impl.Metadata(ctx, &MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("metadata: %s", CodeOf(err))
	}
	return MetadataToWire(m), nil
}

func (s *controlServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (resp *pb.ConfigureResponse, err error) {
	resp = &pb.ConfigureResponse{}
	defer func() {
		if recover() != nil {
			resp = &pb.ConfigureResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL, Panicked: true}}
			err = nil
		}
	}()
	r, cerr := s.impl.Configure(ctx, &ConfigureRequest{
		ConnectionID: req.GetConnectionId(), Settings: json.RawMessage(req.GetSettings()),
	})
	if cerr != nil {
		resp.Error = ErrorToWire(cerr)
		return resp, nil
	}
	if r != nil {
		resp.Templates = TemplatesToWire(r.Templates)
	}
	return resp, nil
}

// PanicMessage is the fixed text of the gRPC error a Metadata call fails with
// when the connector panicked (Metadata has no Error field to carry the fact).
const PanicMessage = "connector panicked"

func recoverInto(dst *error) {
	if r := recover(); r != nil {
		*dst = errors.New(PanicMessage)
	}
}

// MetadataToWire and MetadataFromWire convert a manifest.
func MetadataToWire(m *MetadataResponse) *pb.MetadataResponse {
	out := &pb.MetadataResponse{
		Kind: m.Kind, Version: m.Version, ProtocolVersion: ProtocolVersion, AuthKinds: m.AuthKinds,
	}
	for _, r := range m.Resources {
		out.Resources = append(out.Resources, &pb.ResourceCapability{
			Resource: string(r.Resource), Read: r.Read, Search: r.Search,
			SearchParams: r.SearchParams, RequiredParams: r.RequiredParams, Create: r.Create, Update: r.Update,
		})
	}
	return out
}

// MetadataFromWire is the inverse of MetadataToWire.
func MetadataFromWire(m *pb.MetadataResponse) *MetadataResponse {
	out := &MetadataResponse{Kind: m.GetKind(), Version: m.GetVersion(), AuthKinds: m.GetAuthKinds()}
	for _, r := range m.GetResources() {
		out.Resources = append(out.Resources, ResourceCapability{
			Resource: unified.ResourceType(r.GetResource()), Read: r.GetRead(), Search: r.GetSearch(),
			SearchParams: r.GetSearchParams(), RequiredParams: r.GetRequiredParams(),
			Create: r.GetCreate(), Update: r.GetUpdate(),
		})
	}
	return out
}

// TemplatesToWire and TemplatesFromWire convert a connection's templates.
func TemplatesToWire(ts []SourceTemplate) []*pb.SourceTemplate {
	out := make([]*pb.SourceTemplate, 0, len(ts))
	for _, t := range ts {
		out = append(out, &pb.SourceTemplate{
			Resource: string(t.Resource), Read: requestTemplateToWire(t.Read), Search: requestTemplateToWire(t.Search),
		})
	}
	return out
}

func requestTemplateToWire(t *RequestTemplate) *pb.RequestTemplate {
	if t == nil {
		return nil
	}
	out := &pb.RequestTemplate{Path: t.Path, Headers: ParamsToWire(t.Header)}
	for _, q := range t.Query {
		out.Query = append(out.Query, &pb.QueryTemplate{
			Name: q.Name, Value: q.Value, Filter: q.Filter, Encoding: pb.ValueEncoding(q.Encoding), Limit: q.Limit,
		})
	}
	return out
}

// TemplatesFromWire is the inverse of TemplatesToWire. An encoding this SDK
// does not know drops the template (its requests go in-band).
func TemplatesFromWire(ts []*pb.SourceTemplate) []SourceTemplate {
	var out []SourceTemplate
	for _, t := range ts {
		out = append(out, SourceTemplate{
			Resource: unified.ResourceType(t.GetResource()),
			Read:     requestTemplateFromWire(t.GetRead()),
			Search:   requestTemplateFromWire(t.GetSearch()),
		})
	}
	return out
}

func requestTemplateFromWire(t *pb.RequestTemplate) *RequestTemplate {
	if t == nil {
		return nil
	}
	out := &RequestTemplate{Path: t.GetPath(), Header: ParamsFromWire(t.GetHeaders())}
	for _, q := range t.GetQuery() {
		e := ValueEncoding(q.GetEncoding())
		if e < EncodeVerbatim || e > EncodeFHIRToken {
			return nil
		}
		out.Query = append(out.Query, QueryTemplate{
			Name: q.GetName(), Value: q.GetValue(), Filter: q.GetFilter(), Encoding: e, Limit: q.GetLimit(),
		})
	}
	return out
}
