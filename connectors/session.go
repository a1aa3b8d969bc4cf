package connectors

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
)

// The plugin's end of the Session stream: one long-lived stream per plugin
// process that carries every Read and Search the host sends and, in-band,
// the Transport calls made while serving them. It replaces a unary
// Read/Search plus a unary Transport.Do back over the broker per request.
//
// Each Call runs in its own goroutine under a context that carries the
// host's deadline and ends on Cancel or when the stream ends. The Transport
// the connector gets sends TransportCall frames and waits for the matching
// TransportReply (call id, seq). gRPC allows one Send at a time per stream:
// sends are serialised by a mutex. Panics stay contained as in the unary
// path: only the error code crosses.

var errSessionClosed = errors.New("session closed")

// Session serves the host's Session stream until the host closes it or the
// connection ends.
func (s *wireServer) Session(stream pb.Connector_SessionServer) error {
	// Headers at once: the host waits for them to learn that this plugin
	// serves Session (an older SDK answers UNIMPLEMENTED instead).
	if err := stream.SendHeader(metadata.Pairs(MaxFrameHeader, strconv.Itoa(maxFrame()))); err != nil {
		return err
	}
	ps := &pluginSession{
		srv:     s,
		stream:  stream,
		calls:   map[uint64]context.CancelFunc{},
		waiters: map[waiterKey]chan *pb.TransportReply{},
		done:    make(chan struct{}),
	}
	err := ps.receive()
	// No Send once the handler has returned.
	ps.sendMu.Lock()
	ps.closed = true
	ps.sendMu.Unlock()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

type waiterKey struct{ call, seq uint64 }

type pluginSession struct {
	srv    *wireServer
	stream pb.Connector_SessionServer

	sendMu sync.Mutex
	closed bool // under sendMu

	mu      sync.Mutex
	calls   map[uint64]context.CancelFunc // calls in flight
	waiters map[waiterKey]chan *pb.TransportReply
	seq     atomic.Uint64
	done    chan struct{} // closed when the receive loop ends
}

func (ps *pluginSession) receive() error {
	defer func() {
		close(ps.done)
		ps.mu.Lock()
		for _, cancel := range ps.calls {
			cancel()
		}
		ps.mu.Unlock()
	}()
	for {
		f, err := ps.stream.Recv()
		if err != nil {
			return err
		}
		switch fr := f.GetFrame().(type) {
		case *pb.HostFrame_Call:
			ps.start(fr.Call)
		case *pb.HostFrame_Cancel:
			ps.mu.Lock()
			cancel := ps.calls[fr.Cancel.GetCallId()]
			ps.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		case *pb.HostFrame_TransportReply:
			r := fr.TransportReply
			ps.mu.Lock()
			ch := ps.waiters[waiterKey{r.GetCallId(), r.GetSeq()}]
			ps.mu.Unlock()
			if ch != nil {
				select {
				case ch <- r:
				default: // a duplicate reply: the first one stands
				}
			}
		}
		// Unknown frames (a newer host) are ignored.
	}
}

func (ps *pluginSession) start(c *pb.Call) {
	id := c.GetCallId()
	base := ps.stream.Context()
	var ctx context.Context
	var cancel context.CancelFunc
	if d := c.GetDeadline(); d != 0 {
		ctx, cancel = context.WithDeadline(base, time.Unix(0, d))
	} else {
		ctx, cancel = context.WithCancel(base)
	}
	ps.mu.Lock()
	if _, dup := ps.calls[id]; dup {
		// The host never reuses a call id in flight: ignore the copy.
		ps.mu.Unlock()
		cancel()
		return
	}
	ps.calls[id] = cancel
	ps.mu.Unlock()
	go ps.run(ctx, cancel, c)
}

func (ps *pluginSession) run(ctx context.Context, cancel context.CancelFunc, c *pb.Call) {
	id := c.GetCallId()
	defer func() {
		ps.mu.Lock()
		delete(ps.calls, id)
		ps.mu.Unlock()
		cancel()
	}()
	tr := &streamTransport{s: ps, callID: id}
	res := &pb.Result{CallId: id}
	switch r := c.GetRequest().(type) {
	case *pb.Call_Read:
		res.Response = &pb.Result_Read{Read: ps.srv.read(ctx, r.Read, tr)}
	case *pb.Call_Search:
		res.Response = &pb.Result_Search{Search: ps.srv.search(ctx, r.Search, tr)}
	}
	// An unknown request (a newer host) gets a Result with no response,
	// which the host reads as a failed call.
	f := &pb.PluginFrame{Frame: &pb.PluginFrame_Result{Result: res}}
	if proto.Size(f) > MaxMessageBytes {
		// Over the limit: this call fails, the stream and every other call
		// on it go on (sending it would break the stream).
		internal := &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL}
		switch res.Response.(type) {
		case *pb.Result_Read:
			res.Response = &pb.Result_Read{Read: &pb.ReadResponse{Error: internal}}
		case *pb.Result_Search:
			res.Response = &pb.Result_Search{Search: &pb.SearchResponse{Error: internal}}
		}
	}
	_ = ps.send(f)
}

func (ps *pluginSession) send(f *pb.PluginFrame) error {
	ps.sendMu.Lock()
	defer ps.sendMu.Unlock()
	if ps.closed {
		return errSessionClosed
	}
	return ps.stream.Send(f)
}

// streamTransport is the connector's Transport for one call served on a
// Session: each exchange is a TransportCall frame answered in-band.
type streamTransport struct {
	s      *pluginSession
	callID uint64
}

var (
	_ Transport = (*streamTransport)(nil)
	_ Exchanger = (*streamTransport)(nil)
)

func (t *streamTransport) roundTrip(ctx context.Context, tc *pb.TransportCall) (*pb.TransportReply, error) {
	ps := t.s
	tc.CallId, tc.Seq = t.callID, ps.seq.Add(1)
	key := waiterKey{tc.CallId, tc.Seq}
	ch := make(chan *pb.TransportReply, 1)
	ps.mu.Lock()
	ps.waiters[key] = ch
	ps.mu.Unlock()
	defer func() {
		ps.mu.Lock()
		delete(ps.waiters, key)
		ps.mu.Unlock()
	}()
	f := &pb.PluginFrame{Frame: &pb.PluginFrame_TransportCall{TransportCall: tc}}
	if proto.Size(f) > MaxMessageBytes {
		return nil, Errorf(CodeInternal, "transport request over the message size limit")
	}
	if err := ps.send(f); err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
		}
		return nil, &Error{Code: CodeInternal, Err: err}
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
	case <-ps.done:
		return nil, &Error{Code: CodeInternal, Err: errSessionClosed}
	}
}

func (t *streamTransport) Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	r, err := t.roundTrip(ctx, &pb.TransportCall{Request: &pb.TransportCall_Http{Http: httpRequestToWire(t.callID, req)}})
	if err != nil {
		return nil, err
	}
	resp := r.GetHttp()
	if resp == nil {
		return nil, Errorf(CodeInternal, "transport reply of the wrong kind")
	}
	return httpResponseFromWire(resp)
}

// Exchange sends one message through the host's message transport (MLLP)
// on the stream, like Do.
func (t *streamTransport) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	r, err := t.roundTrip(ctx, &pb.TransportCall{Request: &pb.TransportCall_Exchange{Exchange: &pb.ExchangeRequest{
		CallId: t.callID, Message: msg,
	}}})
	if err != nil {
		return nil, err
	}
	resp := r.GetExchange()
	if resp == nil {
		return nil, Errorf(CodeInternal, "transport reply of the wrong kind")
	}
	if werr := ErrorFromWire(resp.GetError()); werr != nil {
		return nil, werr
	}
	return resp.GetMessage(), nil
}
