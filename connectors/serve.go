package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
	"github.com/ferryhealth/ferry/unified"
)

// Serve runs a connector as a plugin process: it answers the host's
// handshake and serves the Connector wire protocol until the host goes away.
// A plugin's main is one line: connectors.Serve(fhir.New).
func Serve(factory func() Connector) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &servePlugin{impl: factory()}},
		GRPCServer:      GRPCServer,
	})
}

// GRPCServer is the gRPC server Serve runs: go-plugin's default with the
// message limit raised to MaxMessageBytes, which the Session stream needs
// (the host's transport replies arrive on it, up to the host's body cap).
func GRPCServer(opts []grpc.ServerOption) *grpc.Server {
	largeFrames.Store(true)
	return plugin.DefaultGRPCServer(append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes)))
}

// MaxMessageBytes bounds one gRPC message between host and plugin in either
// direction; the host and the SDK both use it.
const MaxMessageBytes = 64 << 20

// largeFrames records that this process's gRPC server takes messages up to
// MaxMessageBytes (GRPCServer built it). A plugin that calls plugin.Serve
// with go-plugin's default server receives at most gRPC's 4 MiB; its
// Session says so in its headers (MaxFrameHeader), and the host keeps
// each frame it sends within that, so one large source answer fails its
// own call instead of the stream every call shares.
var largeFrames atomic.Bool

// MaxFrameHeader is the Session header in which the plugin states the
// largest frame it takes, in bytes. Absent, the host assumes 4 MiB.
const MaxFrameHeader = "ferry-max-frame"

// DefaultMaxFrame is gRPC's default receive limit.
const DefaultMaxFrame = 4 << 20

func maxFrame() int {
	if largeFrames.Load() {
		return MaxMessageBytes
	}
	return DefaultMaxFrame
}

// servePlugin is the plugin half of go-plugin's GRPCPlugin; the host half
// lives in package plugins.
type servePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Connector
}

func (p *servePlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	dial := func(id uint32) (*grpc.ClientConn, error) {
		// The host sends source bodies up to its own cap; the default 4 MiB
		// gRPC limit would fail large searches.
		return broker.DialWithOptions(id, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes)))
	}
	pb.RegisterConnectorServer(s, NewWireServer(p.impl, dial))
	return nil
}

func (p *servePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("connectors: the plugin side has no client")
}

// NewWireServer adapts a Connector to the wire protocol's server interface.
// dial opens the host's Transport service by broker id. It is exported so the
// conformance kit and benchmarks can run the wire adapter without a process.
func NewWireServer(impl Connector, dial func(uint32) (*grpc.ClientConn, error)) pb.ConnectorServer {
	return &wireServer{impl: impl, dial: dial}
}

type wireServer struct {
	pb.UnimplementedConnectorServer
	impl Connector
	dial func(uint32) (*grpc.ClientConn, error)

	mu        sync.RWMutex
	transport pb.TransportClient
}

func (s *wireServer) Init(_ context.Context, req *pb.InitRequest) (*pb.InitResponse, error) {
	// One long-lived connection back to the host, dialled once: a dial per
	// request would cost a TLS handshake on the hot path.
	conn, err := s.dial(req.GetTransportBrokerId())
	if err != nil {
		return nil, fmt.Errorf("dial host transport: %w", err)
	}
	s.mu.Lock()
	s.transport = pb.NewTransportClient(conn)
	s.mu.Unlock()
	return &pb.InitResponse{}, nil
}

func (s *wireServer) transportFor(callID uint64) Transport {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &wireTransport{client: s.transport, callID: callID}
}

func (s *wireServer) Metadata(ctx context.Context, _ *pb.MetadataRequest) (resp *pb.MetadataResponse, err error) {
	defer recoverInto(&err)
	m, err := s.impl.Metadata(ctx, &MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("metadata: %s", CodeOf(err))
	}
	out := &pb.MetadataResponse{
		Kind: m.Kind, Version: m.Version, ProtocolVersion: ProtocolVersion, AuthKinds: m.AuthKinds,
	}
	for _, r := range m.Resources {
		out.Resources = append(out.Resources, &pb.ResourceCapability{
			Resource: string(r.Resource), Read: r.Read, Search: r.Search,
			SearchParams: r.SearchParams, RequiredParams: r.RequiredParams,
		})
	}
	return out, nil
}

func (s *wireServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (resp *pb.ConfigureResponse, err error) {
	resp = &pb.ConfigureResponse{}
	defer recoverIntoWire(&resp.Error)
	_, cerr := s.impl.Configure(ctx, &ConfigureRequest{
		ConnectionID: req.GetConnectionId(), Settings: json.RawMessage(req.GetSettings()),
	})
	resp.Error = ErrorToWire(cerr)
	return resp, nil
}

func (s *wireServer) Read(ctx context.Context, req *pb.ReadRequest) (*pb.ReadResponse, error) {
	return s.read(ctx, req, s.transportFor(req.GetCallId())), nil
}

// read serves one Read with the given Transport, for the unary RPC and the
// Session stream alike. A panic in the connector becomes this call's error.
func (s *wireServer) read(ctx context.Context, req *pb.ReadRequest, tr Transport) (resp *pb.ReadResponse) {
	resp = &pb.ReadResponse{}
	defer recoverIntoWire(&resp.Error)
	r, rerr := s.impl.Read(ctx, &ReadRequest{
		ConnectionID: req.GetConnectionId(),
		Resource:     unified.ResourceType(req.GetResource()),
		ID:           req.GetId(),
		Raw:          req.GetRaw(),
		Transport:    tr,
	})
	if rerr != nil {
		resp.Error = ErrorToWire(rerr)
		return resp
	}
	resp.Record = r.Record
	return resp
}

func (s *wireServer) Search(ctx context.Context, req *pb.SearchRequest) (*pb.SearchResponse, error) {
	return s.search(ctx, req, s.transportFor(req.GetCallId())), nil
}

// search is read's counterpart for Search.
func (s *wireServer) search(ctx context.Context, req *pb.SearchRequest, tr Transport) (resp *pb.SearchResponse) {
	resp = &pb.SearchResponse{}
	defer recoverIntoWire(&resp.Error)
	r, serr := s.impl.Search(ctx, &SearchRequest{
		ConnectionID: req.GetConnectionId(),
		Resource:     unified.ResourceType(req.GetResource()),
		Params:       req.GetParams(),
		Limit:        int(req.GetLimit()),
		PageToken:    req.GetPageToken(),
		Raw:          req.GetRaw(),
		Transport:    tr,
	})
	if serr != nil {
		resp.Error = ErrorToWire(serr)
		return resp
	}
	resp.Records = make([][]byte, len(r.Records))
	for i, rec := range r.Records {
		resp.Records[i] = rec
	}
	resp.NextPageToken = r.NextPageToken
	return resp
}

// recoverIntoWire turns a panic inside a connector into an internal error for
// this one call, so one bad record cannot take down the plugin process and
// every other in-flight request with it. The panic value is dropped: it may
// hold PHI. Only the fact crosses (Panicked), so the host can count panics
// and the conformance kit can name them.
func recoverIntoWire(dst **pb.Error) {
	if r := recover(); r != nil {
		*dst = &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL, Panicked: true}
	}
}

// PanicMessage is the fixed text of the gRPC error a Metadata call fails with
// when the connector panicked (Metadata has no Error field to carry the fact).
const PanicMessage = "connector panicked"

func recoverInto(dst *error) {
	if r := recover(); r != nil {
		*dst = errors.New(PanicMessage)
	}
}

// wireTransport is the connector's Transport inside a plugin process: each
// exchange goes back to the host over the broker connection, tagged with the
// call id the host minted for the request being served.
type wireTransport struct {
	client pb.TransportClient
	callID uint64
}

var (
	_ Transport = (*wireTransport)(nil)
	_ Exchanger = (*wireTransport)(nil)
)

func (t *wireTransport) Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	if t.client == nil {
		return nil, Errorf(CodeInternal, "transport not initialised by the host")
	}
	resp, err := t.client.Do(ctx, httpRequestToWire(t.callID, req))
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
		}
		return nil, &Error{Code: CodeInternal, Err: err}
	}
	return httpResponseFromWire(resp)
}

// Exchange sends one message through the host's message transport (MLLP),
// tagged with the call id like Do.
func (t *wireTransport) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	if t.client == nil {
		return nil, Errorf(CodeInternal, "transport not initialised by the host")
	}
	resp, err := t.client.Exchange(ctx, &pb.ExchangeRequest{CallId: t.callID, Message: msg})
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
		}
		if status.Code(err) == codes.Unimplemented {
			// A host older than the Exchange RPC.
			return nil, &Error{Code: CodeUnsupported, Err: err}
		}
		return nil, &Error{Code: CodeInternal, Err: err}
	}
	if werr := ErrorFromWire(resp.GetError()); werr != nil {
		return nil, werr
	}
	return resp.GetMessage(), nil
}
