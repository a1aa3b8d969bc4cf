package connectors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrPluginGone is wrapped by the error of a call that failed because the
// plugin's data plane ended (the process exited, or broke the protocol),
// as opposed to an error the connector reported.
var ErrPluginGone = errors.New("plugin data plane closed")

// ErrPluginUnavailable is the error of a call to a plugin that is not
// running: never started, stopped, or backing off after crashes. The host
// answers it connector_unavailable; the call never reached the plugin.
var ErrPluginUnavailable = errors.New("plugin unavailable")

// ErrFrameTooLarge is the error of a call whose frame would exceed
// MaxFrameBytes (or the plugin's announced limit). The call fails; the data
// plane and the other calls on it go on.
var ErrFrameTooLarge = errFrameTooLarge

// HostConn is the host's end of one plugin process's data plane (see
// proto/connector.proto): it sends each Read and Search as a Call frame,
// serves the plugin's in-band source requests through the Transport of the
// call they name, and hands each Result back to its caller. Calls are
// multiplexed by call ids HostConn mints; a source request is served only
// for a call in flight, through that call's Transport, so a plugin cannot
// reach a source outside a request. (It sees every call in flight, so it
// could name another call's id while that call lasts: docs/design.md says
// what that allows.)
//
// HostConn reports what the plugin said. The host's own rules on top (its
// transport's error wins over the plugin's, a plugin failure is a
// connector failure) belong to its caller, so that the conformance kit sees
// the plugin as it is.
type HostConn struct {
	conn net.Conn
	w    *frameWriter

	helloReady chan struct{} // closed once hello is set
	hello      *helloMsg

	mu     sync.Mutex
	calls  map[uint64]*hostCall
	closed bool
	next   atomic.Uint64
	// transports bounds the plugin's source requests served at once.
	transports chan struct{}

	done chan struct{} // closed when the reader has stopped
	err  error         // why; set before done is closed
}

// maxTransportsInFlight bounds the plugin's concurrent in-band source
// requests on one data plane; beyond it a request is refused at once (the
// connections' own bulkheads bound real traffic far below).
const maxTransportsInFlight = 1024

// maxTransportCallBytes bounds one in-band source request from a plugin
// (a GET with its query and headers, or an MLLP query message): a plugin
// that sends more breaks the protocol, and its data plane ends (it is
// restarted). With maxTransportsInFlight it bounds what a plugin can make
// the host hold.
const maxTransportCallBytes = 1 << 20

// maxWriteTransportCallBytes bounds one in-band source request of a write
// call instead: its body carries the record, a document's attachment
// included, which the host has bounded by MaxWriteBodyBytes. Twice that
// leaves room for a source format larger than the unified JSON (a FHIR
// resource with its base64 attachment and its wrapping).
const maxWriteTransportCallBytes = 2*MaxWriteBodyBytes + maxTransportCallBytes

// MaxWriteBodyBytes is the largest unified JSON body the host accepts for
// a create or an update (a document with one attachment, base64, fits).
const MaxWriteBodyBytes = 8 << 20

// CallInfo is what a call's Result says besides its records.
type CallInfo struct {
	// Panicked: the connector panicked; the error is then internal.
	Panicked bool
	// PrefetchUsed: the call's Prefetched exchange answered the
	// connector's first source request.
	PrefetchUsed bool
}

// ErrNoWrites is the error of a create or an update sent to a plugin that
// did not announce those operations in its Hello (a connector that only
// reads, or one built with an older SDK).
var ErrNoWrites = &Error{Code: CodeUnsupported, Param: "operation"}

// hostCall is one call in flight.
type hostCall struct {
	// ctx ends when the call returns, and with it the call's source
	// requests still running; transports counts those, and the call
	// waits for them before it returns, so that no source request of a
	// call outlives it (and the pooled call and its Transport can be
	// reused).
	ctx        context.Context
	cancel     context.CancelFunc // set with the first source request (lazily: most calls make none in-band)
	transport  Transport
	transports sync.WaitGroup
	result     chan delivery // cap 1
	// write: the call is a create or an update, whose source requests may
	// carry a record (maxWriteTransportCallBytes).
	write bool
}

type delivery struct {
	msg resultMsg
	fb  *frameBuf
}

var hostCalls = sync.Pool{New: func() any { return &hostCall{result: make(chan delivery, 1)} }}

// NewHostConn starts serving the host's end of a data plane on conn. The
// plugin's Hello comes first (WaitHello).
func NewHostConn(conn net.Conn) *HostConn {
	h := &HostConn{
		conn:       conn,
		w:          newFrameWriter(conn),
		helloReady: make(chan struct{}),
		calls:      map[uint64]*hostCall{},
		transports: make(chan struct{}, maxTransportsInFlight),
		done:       make(chan struct{}),
	}
	go h.receive()
	return h
}

// WaitHello waits for the plugin's Hello, at most until ctx ends, and
// returns the protocol version and the operations it announced.
func (h *HostConn) WaitHello(ctx context.Context) (protocol uint32, operations []string, err error) {
	select {
	case <-h.helloReady:
		return h.hello.protocol, h.hello.operations, nil
	case <-h.done:
		return 0, nil, h.err
	case <-ctx.Done():
		return 0, nil, fmt.Errorf("no hello from the plugin: %w", ctx.Err())
	}
}

// Done is closed when the data plane has ended; Err then says why.
func (h *HostConn) Done() <-chan struct{} { return h.done }

// Err is why the data plane ended, once Done is closed.
func (h *HostConn) Err() error {
	select {
	case <-h.done:
		return h.err
	default:
		return nil
	}
}

// Close ends the data plane: calls in flight fail with ErrPluginGone.
func (h *HostConn) Close() error {
	h.w.close()
	err := h.conn.Close()
	<-h.done
	return err
}

// Read sends one Read; pre is the exchange the host made for it from the
// connection's template, or nil. The record is valid until the response
// is released.
func (h *HostConn) Read(ctx context.Context, req *ReadRequest, pre *Prefetched) (*ReadResponse, CallInfo, error) {
	d, info, err := h.call(ctx, req.Transport, req, nil, pre, nil, nil)
	if err != nil {
		return nil, info, err
	}
	if len(d.msg.records) != 1 {
		d.fb.release()
		return nil, info, Errorf(CodeInternal, "a read answered with %d records", len(d.msg.records))
	}
	return &ReadResponse{Record: d.msg.records[0], Version: d.msg.version, frame: d.fb}, info, nil
}

// Search sends one Search; see Read. The records are valid until the
// response is released.
func (h *HostConn) Search(ctx context.Context, req *SearchRequest, pre *Prefetched) (*SearchResponse, CallInfo, error) {
	d, info, err := h.call(ctx, req.Transport, nil, req, pre, nil, nil)
	if err != nil {
		return nil, info, err
	}
	return &SearchResponse{Records: d.msg.records, NextPageToken: d.msg.next, frame: d.fb}, info, nil
}

// call sends one Call and waits for its Result, the end of ctx or the end
// of the data plane. When ctx ends first it tells the plugin (Cancel) and
// returns at once. Exactly one of read, search, create and update is set.
func (h *HostConn) call(ctx context.Context, tr Transport, read *ReadRequest, search *SearchRequest, pre *Prefetched, create *CreateRequest, update *UpdateRequest) (delivery, CallInfo, error) {
	write := create != nil || update != nil
	return h.callFrame(ctx, tr, write, func(id uint64, deadline int64) *frameBuf {
		if write {
			return encodeWriteCall(id, deadline, create, update)
		}
		return encodeCall(id, deadline, read, search, pre)
	})
}

// callFrame is call for any operation: encode writes the Call frame with
// the call id and deadline it is given; write says the call is a write
// (its in-band source requests get the larger cap).
func (h *HostConn) callFrame(ctx context.Context, tr Transport, write bool, encode func(id uint64, deadline int64) *frameBuf) (delivery, CallInfo, error) {
	c := hostCalls.Get().(*hostCall)
	c.ctx, c.transport, c.write = ctx, tr, write
	id := h.next.Add(1)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.putCall(c)
		return delivery{}, CallInfo{}, h.goneErr()
	}
	h.calls[id] = c
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.calls, id)
		h.mu.Unlock()
		h.putCall(c)
	}()

	var deadline int64
	if d, ok := ctx.Deadline(); ok {
		deadline = d.UnixNano()
	}
	fb := encode(id, deadline)
	if len(fb.b)-4 > h.maxFrame() { // kind and payload, as send counts
		fb.release()
		return delivery{}, CallInfo{}, ErrFrameTooLarge
	}
	if err := h.w.send(ctx, frameCall, fb); err != nil {
		if errors.Is(err, errConnClosed) || h.Err() != nil {
			return delivery{}, CallInfo{}, h.goneErr()
		}
		return delivery{}, CallInfo{}, err
	}
	select {
	case d := <-c.result:
		info := CallInfo{Panicked: d.msg.panicked, PrefetchUsed: d.msg.prefetchUsed}
		if d.msg.err != nil || d.msg.panicked {
			d.fb.release()
			var err error = d.msg.err
			if d.msg.err == nil {
				err = &Error{Code: CodeInternal}
			} else if d.msg.err.Code == CodeVersionConflict && ValidVersion(d.msg.version) {
				d.msg.err.Version = d.msg.version
			}
			return delivery{}, info, err
		}
		return d, info, nil
	case <-h.done:
		return delivery{}, CallInfo{}, h.goneErr()
	case <-ctx.Done():
		// Best effort: with the queue full the Cancel is dropped, and the
		// plugin's call still ends at the deadline the Call carried.
		_ = h.w.send(ctx, frameCancel, encodeCancel(id))
		return delivery{}, CallInfo{}, ctx.Err()
	}
}

// putCall ends c's source requests, waits for them, empties c (including
// a Result that arrived as its caller gave up) and pools it. The call is
// out of h.calls, so nothing more arrives for it.
func (h *HostConn) putCall(c *hostCall) {
	if c.cancel != nil {
		c.cancel()
	}
	c.transports.Wait()
	select {
	case d := <-c.result:
		d.fb.release()
	default:
	}
	c.ctx, c.cancel, c.transport, c.write = nil, nil, nil, false
	hostCalls.Put(c)
}

func (h *HostConn) goneErr() error {
	<-h.done
	return fmt.Errorf("%w: %w", ErrPluginGone, h.err)
}

// maxFrame is the largest frame the plugin reads.
func (h *HostConn) maxFrame() int {
	select {
	case <-h.helloReady:
		if h.hello.maxFrame > 0 && h.hello.maxFrame < MaxFrameBytes {
			return int(h.hello.maxFrame)
		}
	default:
	}
	return MaxFrameBytes
}

// deliver hands a Result to its call. It does so under h.mu: a call leaves
// h.calls under it before its hostCall is emptied and reused, so a late
// Result can never reach the next call that reuses it.
func (h *HostConn) deliver(msg *resultMsg, fb *frameBuf) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls[msg.id]
	if c == nil {
		return false
	}
	select {
	case c.result <- delivery{*msg, fb}:
		return true
	default:
		return false
	}
}

// startTransport returns the context and Transport of call id, counting a
// source request in flight on it, or false for a call not in flight.
// A request over the read limit for a call that is not a write breaks the
// protocol (the error).
func (h *HostConn) startTransport(id uint64, size int) (ctx context.Context, tr Transport, done func(), ok bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls[id]
	if size > maxTransportCallBytes && (c == nil || !c.write) {
		return nil, nil, nil, false, fmt.Errorf("transport call of %d bytes, over the limit of %d", size, maxTransportCallBytes)
	}
	if c == nil || c.transport == nil {
		return nil, nil, nil, false, nil
	}
	if c.cancel == nil {
		c.ctx, c.cancel = context.WithCancel(c.ctx)
	}
	c.transports.Add(1)
	return c.ctx, c.transport, c.transports.Done, true, nil
}

// receive reads the plugin's frames until the connection ends or the plugin
// breaks the protocol; then every call waiting fails.
func (h *HostConn) receive() {
	r := newFrameReader(h.conn, MaxFrameBytes)
	err := h.readLoop(r)
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.w.close()
	_ = h.conn.Close()
	h.err = err
	close(h.done)
}

func (h *HostConn) readLoop(r *frameReader) error {
	for {
		kind, fb, err := r.next()
		if err != nil {
			return err
		}
		switch kind {
		case frameHello:
			hello, err := decodeHello(fb.b)
			fb.release()
			if err != nil {
				return fmt.Errorf("hello: %w", err)
			}
			select {
			case <-h.helloReady: // a second Hello: the first stands
			default:
				h.hello = hello
				close(h.helloReady)
			}
		case frameResult:
			var msg resultMsg
			if err := decodeResult(fb.b, &msg); err != nil {
				fb.release()
				return fmt.Errorf("result: %w", err)
			}
			if !h.deliver(&msg, fb) {
				// A Result for a call no longer waiting, or a second one
				// for a call: the first stands.
				fb.release()
			}
		case frameTransportCall:
			// The limit is a write call's (its request carries the
			// record); startTransport holds any other call to the read
			// limit.
			if len(fb.b) > maxWriteTransportCallBytes {
				fb.release()
				return fmt.Errorf("transport call of %d bytes, over the limit of %d", len(fb.b), maxWriteTransportCallBytes)
			}
			tc, err := decodeTransportCall(fb.b)
			if err != nil {
				fb.release()
				return fmt.Errorf("transport call: %w", err)
			}
			ctx, tr, done, ok, err := h.startTransport(tc.callID, len(fb.b))
			if err != nil {
				fb.release()
				return err
			}
			if !ok {
				// A call id not in flight: a stale call, or a plugin trying
				// to reach a source outside any request.
				h.reply(context.Background(), tc, nil, nil, &Error{Code: CodeInvalidArgument, Param: "call_id"})
				fb.release()
				continue
			}
			select {
			case h.transports <- struct{}{}:
				go func() {
					defer done()
					h.serveTransport(ctx, tr, tc)
					fb.release()
					<-h.transports
				}()
			default:
				done()
				h.reply(context.Background(), tc, nil, nil, &Error{Code: CodeSourceUnavailable})
				fb.release()
			}
		default:
			// A kind this host does not know: a plugin may only send kinds
			// the host announced, so this one is broken.
			fb.release()
			return fmt.Errorf("frame of unknown kind %d", kind)
		}
	}
}

// serveTransport runs one of the plugin's source requests through the
// Transport of the call it names, under that call's context, and replies.
func (h *HostConn) serveTransport(ctx context.Context, tr Transport, tc *transportCallMsg) {
	if !tc.exchange {
		resp, err := tr.Do(ctx, tc.http)
		h.reply(ctx, tc, resp, nil, err)
		return
	}
	ex, ok := tr.(Exchanger)
	if !ok {
		h.reply(ctx, tc, nil, nil, &Error{Code: CodeUnsupported})
		return
	}
	msg, err := ex.Exchange(ctx, tc.message)
	h.reply(ctx, tc, nil, msg, err)
}

// reply sends a TransportReply. A reply over the plugin's frame limit
// fails the plugin's request as internal, not the data plane. It waits for
// room no longer than the call does: a reply to an ended call is moot.
func (h *HostConn) reply(ctx context.Context, tc *transportCallMsg, resp *HTTPResponse, msg []byte, err error) {
	if err == nil && !tc.exchange && resp == nil {
		err = &Error{Code: CodeInternal}
	}
	fb := encodeTransportReply(tc.callID, tc.seq, tc.exchange, resp, msg, err)
	if len(fb.b)-4 > h.maxFrame() {
		fb.release()
		fb = encodeTransportReply(tc.callID, tc.seq, tc.exchange, nil, nil, &Error{Code: CodeInternal})
	}
	if ctx == context.Background() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	_ = h.w.send(ctx, frameTransportReply, fb)
}
