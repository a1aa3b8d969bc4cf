package plugins

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
)

// The host's end of the Session stream: one long-lived bidirectional stream
// per plugin process carrying every Read and Search (Call, Cancel, Result
// frames) and, in-band, the plugin's Transport calls for them
// (TransportCall, TransportReply), instead of a unary call each way per
// request. Calls are multiplexed by the call ids the host mints
// (callRegistry); a TransportCall is served only for a call in flight.
//
// One goroutine sends (gRPC allows one concurrent Send per stream): frames
// are queued for it, so a caller waits for the queue, never for the socket,
// and gives up at its deadline even when the plugin has stopped reading and
// Send is blocked on flow control (a wedged plugin: the health probes kill
// it). One goroutine receives, hands each Result to the call waiting for
// it and runs each TransportCall on a goroutine of its own. When the stream
// breaks (the plugin crashed, or broke the protocol) every call waiting on
// it fails at once; the next call opens a new stream, and a restarted
// process gets a new one at its handshake.

// errNoResult is a Result frame without a response of the call's kind: a
// plugin breaking the protocol.
var errNoResult = errors.New("result of the wrong kind")

type hostSession struct {
	stream pb.Connector_SessionClient
	cancel context.CancelFunc // ends the stream
	calls  *callRegistry

	out chan *pb.HostFrame // frames for sendLoop
	// maxFrame is the largest frame the plugin takes (its Session header):
	// a frame over it would end the stream for every call on it.
	maxFrame int

	mu      sync.Mutex
	pending map[uint64]chan *pb.Result // calls waiting for their Result

	done chan struct{} // closed when the stream has ended
	err  error         // why; written before done is closed
}

// openSession opens a Session on the plugin and waits, bounded by wait, for
// the plugin's headers. A plugin built with an SDK that predates Session
// fails with codes.Unimplemented.
func openSession(wait context.Context, rpc pb.ConnectorClient, calls *callRegistry) (*hostSession, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := rpc.Session(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	hdr := make(chan error, 1)
	maxFrame := connectors.DefaultMaxFrame
	go func() {
		md, _ := stream.Header()
		if md != nil {
			maxFrame = frameLimit(md.Get(connectors.MaxFrameHeader))
			hdr <- nil
			return
		}
		// The stream ended before any header: its status says why.
		_, err := stream.Recv()
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("session ended before it started")
		}
		hdr <- err
	}()
	select {
	case err := <-hdr:
		if err != nil {
			cancel()
			return nil, err
		}
	case <-wait.Done():
		cancel()
		return nil, wait.Err()
	}
	s := &hostSession{
		stream: stream, cancel: cancel, calls: calls,
		pending:  map[uint64]chan *pb.Result{},
		done:     make(chan struct{}),
		maxFrame: maxFrame,
		out:      make(chan *pb.HostFrame, sendQueue),
	}
	go s.receive()
	go s.sendLoop()
	return s, nil
}

// sendQueue is how many frames may wait for the sender.
const sendQueue = 256

// sendLoop sends the queued frames in order until the stream ends. A failed
// Send ends the stream (the receiver then sees the error and fails every
// waiting call).
func (s *hostSession) sendLoop() {
	for {
		select {
		case f := <-s.out:
			if err := s.stream.Send(f); err != nil {
				s.cancel()
				return
			}
		case <-s.done:
			return
		}
	}
}

func (s *hostSession) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *hostSession) receive() {
	for {
		f, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("plugin closed the session")
			}
			s.err = err
			close(s.done)
			s.cancel()
			return
		}
		switch fr := f.GetFrame().(type) {
		case *pb.PluginFrame_Result:
			s.mu.Lock()
			ch := s.pending[fr.Result.GetCallId()]
			s.mu.Unlock()
			if ch != nil {
				select {
				case ch <- fr.Result:
				default: // a second Result for the call: the first stands
				}
			}
			// A Result for a call no longer waiting (cancelled) is dropped.
		case *pb.PluginFrame_TransportCall:
			go s.serveTransport(fr.TransportCall)
		}
	}
}

// call sends one Call and waits for its Result, the end of ctx or the end of
// the stream. On ctx's end it tells the plugin (Cancel) and returns at once.
func (s *hostSession) call(ctx context.Context, id uint64, c *pb.Call) (*pb.Result, error) {
	c.CallId = id
	if d, ok := ctx.Deadline(); ok {
		c.Deadline = d.UnixNano()
	}
	ch := make(chan *pb.Result, 1)
	s.mu.Lock()
	s.pending[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}()
	f := &pb.HostFrame{Frame: &pb.HostFrame_Call{Call: c}}
	if proto.Size(f) > s.maxFrame {
		// Sending it would break the stream for every call on it.
		return nil, errors.New("call over the message size limit")
	}
	if err := s.send(ctx, f); err != nil {
		if s.ended() {
			return nil, s.err
		}
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-s.done:
		return nil, s.err
	case <-ctx.Done():
		// Best effort: with the queue full the Cancel is dropped; the
		// plugin's call still ends at the deadline the Call carried.
		select {
		case s.out <- &pb.HostFrame{Frame: &pb.HostFrame_Cancel{Cancel: &pb.Cancel{CallId: id}}}:
		default:
		}
		return nil, ctx.Err()
	}
}

// send queues f for the sender, waiting for room at most until ctx ends or
// the stream does.
func (s *hostSession) send(ctx context.Context, f *pb.HostFrame) error {
	select {
	case s.out <- f:
		return nil
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveTransport runs one of the plugin's Transport calls through the
// transport of the call it names, under that call's context, and sends the
// reply. A call id not in flight is refused, as by the Transport service.
func (s *hostSession) serveTransport(tc *pb.TransportCall) {
	c, ok := s.calls.lookup(tc.GetCallId())
	if !ok {
		c = nil
	}
	reply := &pb.TransportReply{CallId: tc.GetCallId(), Seq: tc.GetSeq()}
	switch r := tc.GetRequest().(type) {
	case *pb.TransportCall_Http:
		reply.Reply = &pb.TransportReply_Http{Http: serveDo(callContext(c), c, r.Http)}
	case *pb.TransportCall_Exchange:
		reply.Reply = &pb.TransportReply_Exchange{Exchange: serveExchange(callContext(c), c, r.Exchange)}
	default:
		// A request kind this host does not know: refused as unsupported.
		reply.Reply = &pb.TransportReply_Http{Http: &pb.HTTPResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_UNSUPPORTED}}}
	}
	f := &pb.HostFrame{Frame: &pb.HostFrame_TransportReply{TransportReply: reply}}
	if proto.Size(f) > s.maxFrame {
		// As the Transport service's reply over the limit: the plugin's
		// call fails as internal; the stream goes on.
		internal := &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL}
		switch reply.Reply.(type) {
		case *pb.TransportReply_Http:
			reply.Reply = &pb.TransportReply_Http{Http: &pb.HTTPResponse{Error: internal}}
		case *pb.TransportReply_Exchange:
			reply.Reply = &pb.TransportReply_Exchange{Exchange: &pb.ExchangeResponse{Error: internal}}
		}
	}
	// A reply for a call that has ended is moot: it waits no longer than
	// the call does.
	_ = s.send(callContext(c), f)
}

func callContext(c *call) context.Context {
	if c == nil || c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

// frameLimit reads the plugin's MaxFrameHeader: gRPC's default when absent
// or unreadable, never more than MaxMessageBytes.
func frameLimit(v []string) int {
	if len(v) != 1 {
		return connectors.DefaultMaxFrame
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < connectors.DefaultMaxFrame {
		return connectors.DefaultMaxFrame
	}
	return min(n, MaxMessageBytes)
}
