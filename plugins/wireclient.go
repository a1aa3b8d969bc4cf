package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
	"github.com/ferryhealth/ferry/unified"
)

// wireClient is a connectors.Connector backed by one plugin process. Reads
// and searches go over the process's Session stream (session.go), or, for a
// plugin built with an SDK older than Session, as unary calls with the
// plugin's Transport calls coming back over the broker (transportServer).
type wireClient struct {
	rpc   pb.ConnectorClient
	calls *callRegistry
	// stream is set when the plugin serves Session; it does not change for
	// the life of the process.
	stream bool

	// sessLock guards sess. It is a channel rather than a mutex so that a
	// call waiting while another reopens a broken stream gives up at its
	// own deadline, not at the deadline of the call reopening it.
	sessLock chan struct{}
	sess     *hostSession // the current stream; reopened after it breaks
}

func newWireClient(rpc pb.ConnectorClient, calls *callRegistry) *wireClient {
	return &wireClient{rpc: rpc, calls: calls, sessLock: make(chan struct{}, 1)}
}

var _ connectors.Connector = (*wireClient)(nil)

// callRegistry maps the call ids the host mints to the Transport of the
// request being served, for the lifetime of that call only.
type callRegistry struct {
	next atomic.Uint64
	m    sync.Map // uint64 → *call
}

type call struct {
	transport connectors.Transport
	// ctx is the call's context, ended when the call returns; the
	// transport calls the plugin makes on the Session stream run under it.
	ctx context.Context
	// hostErr is the last error the host's own transport returned during
	// the call. When the plugin then fails, the host trusts its own record
	// of what went wrong over the code the plugin claims.
	mu      sync.Mutex
	hostErr error
}

func (c *call) setHostErr(err error) {
	c.mu.Lock()
	c.hostErr = err
	c.mu.Unlock()
}

func (c *call) lastHostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hostErr
}

func (r *callRegistry) open(ctx context.Context, t connectors.Transport) (uint64, *call) {
	id := r.next.Add(1)
	c := &call{transport: t, ctx: ctx}
	r.m.Store(id, c)
	return id, c
}

func (r *callRegistry) close(id uint64) { r.m.Delete(id) }

func (r *callRegistry) lookup(id uint64) (*call, bool) {
	v, ok := r.m.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*call), true
}

// ErrPluginFailed is wrapped by the error of a call that failed because the
// plugin process crashed, hung up or broke the protocol, as opposed to a
// connector error the plugin reported.
var ErrPluginFailed = errors.New("plugin call failed")

func (w *wireClient) Metadata(ctx context.Context, _ *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	m, err := w.rpc.Metadata(ctx, &pb.MetadataRequest{})
	if err != nil {
		return nil, &connectors.Error{Code: connectors.CodeInternal, Err: errors.Join(ErrPluginFailed, err)}
	}
	out := &connectors.MetadataResponse{Kind: m.GetKind(), Version: m.GetVersion(), AuthKinds: m.GetAuthKinds()}
	for _, r := range m.GetResources() {
		out.Resources = append(out.Resources, connectors.ResourceCapability{
			Resource: unified.ResourceType(r.GetResource()), Read: r.GetRead(), Search: r.GetSearch(),
			SearchParams: r.GetSearchParams(), RequiredParams: r.GetRequiredParams(),
		})
	}
	return out, nil
}

func (w *wireClient) Configure(ctx context.Context, req *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	resp, err := w.rpc.Configure(ctx, &pb.ConfigureRequest{ConnectionId: req.ConnectionID, Settings: req.Settings})
	if err != nil {
		return nil, w.callErr(ctx, err)
	}
	if werr := connectors.ErrorFromWire(resp.GetError()); werr != nil {
		return nil, werr
	}
	return &connectors.ConfigureResponse{}, nil
}

// session returns the open Session stream, opening a new one if the last
// one broke while the process lives on.
func (w *wireClient) session(ctx context.Context) (*hostSession, error) {
	select {
	case w.sessLock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-w.sessLock }()
	if w.sess != nil && !w.sess.ended() {
		return w.sess, nil
	}
	s, err := openSession(ctx, w.rpc, w.calls)
	if err != nil {
		return nil, err
	}
	w.sess = s
	return s, nil
}

// onStream runs one call on the Session stream.
func (w *wireClient) onStream(ctx context.Context, id uint64, c *pb.Call) (*pb.Result, error) {
	s, err := w.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.call(ctx, id, c)
}

func (w *wireClient) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	if w.stream {
		// The transport calls the plugin makes on the stream end with the
		// call.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	id, c := w.calls.open(ctx, req.Transport)
	defer w.calls.close(id)
	wreq := &pb.ReadRequest{
		CallId: id, ConnectionId: req.ConnectionID, Resource: string(req.Resource), Id: req.ID, Raw: req.Raw,
	}
	var resp *pb.ReadResponse
	var err error
	if w.stream {
		var res *pb.Result
		if res, err = w.onStream(ctx, id, &pb.Call{Request: &pb.Call_Read{Read: wreq}}); err == nil {
			if resp = res.GetRead(); resp == nil {
				err = errNoResult
			}
		}
	} else {
		resp, err = w.rpc.Read(ctx, wreq)
	}
	if err != nil {
		return nil, w.callErr(ctx, err)
	}
	if werr := connectors.ErrorFromWire(resp.GetError()); werr != nil {
		return nil, preferHostErr(ctx, c, werr)
	}
	return &connectors.ReadResponse{Record: json.RawMessage(resp.GetRecord())}, nil
}

func (w *wireClient) Search(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	if w.stream {
		// The transport calls the plugin makes on the stream end with the
		// call.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	id, c := w.calls.open(ctx, req.Transport)
	defer w.calls.close(id)
	wreq := &pb.SearchRequest{
		CallId: id, ConnectionId: req.ConnectionID, Resource: string(req.Resource), Params: req.Params,
		Limit: uint32(req.Limit), PageToken: req.PageToken, Raw: req.Raw,
	}
	var resp *pb.SearchResponse
	var err error
	if w.stream {
		var res *pb.Result
		if res, err = w.onStream(ctx, id, &pb.Call{Request: &pb.Call_Search{Search: wreq}}); err == nil {
			if resp = res.GetSearch(); resp == nil {
				err = errNoResult
			}
		}
	} else {
		resp, err = w.rpc.Search(ctx, wreq)
	}
	if err != nil {
		return nil, w.callErr(ctx, err)
	}
	if werr := connectors.ErrorFromWire(resp.GetError()); werr != nil {
		return nil, preferHostErr(ctx, c, werr)
	}
	recs := make([]json.RawMessage, len(resp.GetRecords()))
	for i, r := range resp.GetRecords() {
		recs[i] = r
	}
	return &connectors.SearchResponse{Records: recs, NextPageToken: resp.GetNextPageToken()}, nil
}

// callErr classifies a gRPC failure: the caller's deadline, or the plugin
// itself failing.
func (w *wireClient) callErr(ctx context.Context, err error) error {
	if pastDeadline(ctx) || status.Code(err) == codes.DeadlineExceeded {
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: ctx.Err()}
	}
	return &connectors.Error{Code: connectors.CodeInternal, Err: errors.Join(ErrPluginFailed, err)}
}

func preferHostErr(ctx context.Context, c *call, pluginErr error) error {
	if h := c.lastHostErr(); h != nil {
		return h
	}
	if pastDeadline(ctx) {
		// The deadline travels to the plugin, whose own timer can fire and
		// answer before the host's context notices: a failure at or past
		// the deadline is a timeout, whatever the plugin calls it.
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: pluginErr}
	}
	return pluginErr
}

// pastDeadline reports whether ctx is done or its deadline has passed, even
// if its timer has not fired yet.
func pastDeadline(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// transportServer is the host's Transport service, lent to one plugin
// process over its broker.
type transportServer struct {
	pb.UnimplementedTransportServer
	calls *callRegistry
}

func (s *transportServer) Do(ctx context.Context, req *pb.HTTPRequest) (*pb.HTTPResponse, error) {
	c, _ := s.calls.lookup(req.GetCallId())
	return serveDo(ctx, c, req), nil
}

// serveDo runs one of the plugin's HTTP exchanges through the transport of
// call c, which is nil when the call id named is not in flight.
func serveDo(ctx context.Context, c *call, req *pb.HTTPRequest) *pb.HTTPResponse {
	if c == nil || c.transport == nil {
		// A call id the host is not serving: a stale call, or a plugin
		// trying to reach a source outside any request. Refused.
		return &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, Param: "call_id"}}
	}
	resp, err := c.transport.Do(ctx, &connectors.HTTPRequest{
		Method: req.GetMethod(),
		Path:   req.GetPath(),
		Query:  connectors.ParamsFromWire(req.GetQuery()),
		Header: connectors.ParamsFromWire(req.GetHeaders()),
		Body:   req.GetBody(),
	})
	if err != nil {
		c.setHostErr(err)
		return &pb.HTTPResponse{Error: connectors.ErrorToWire(err)}
	}
	return &pb.HTTPResponse{
		Status:  int32(resp.Status),
		Headers: connectors.ParamsToWire(resp.Header),
		Body:    resp.Body,
	}
}

// Exchange serves a plugin's message exchange (MLLP) under the same rule as
// Do: only for a call in flight, through that call's transport. A transport
// with no message side (an HTTP connection) answers unsupported.
func (s *transportServer) Exchange(ctx context.Context, req *pb.ExchangeRequest) (*pb.ExchangeResponse, error) {
	c, _ := s.calls.lookup(req.GetCallId())
	return serveExchange(ctx, c, req), nil
}

// serveExchange is serveDo's counterpart for a message exchange.
func serveExchange(ctx context.Context, c *call, req *pb.ExchangeRequest) *pb.ExchangeResponse {
	if c == nil || c.transport == nil {
		return &pb.ExchangeResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, Param: "call_id"}}
	}
	ex, ok := c.transport.(connectors.Exchanger)
	if !ok {
		return &pb.ExchangeResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNSUPPORTED}}
	}
	msg, err := ex.Exchange(ctx, req.GetMessage())
	if err != nil {
		c.setHostErr(err)
		return &pb.ExchangeResponse{Error: connectors.ErrorToWire(err)}
	}
	return &pb.ExchangeResponse{Message: msg}
}
