package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The plugin's end of the data plane: it announces itself (Hello), runs
// each Call in a goroutine of its own under a context that carries the
// host's deadline and ends on Cancel or when the data plane ends, and
// answers with a Result. The Transport a connector gets answers its first
// request from the call's Prefetched exchange when the request is exactly
// the prefetched one; every other request is a TransportCall frame
// answered in-band. A panic in the connector fails that call only: only the
// fact crosses, never the panic value (it may hold PHI).

// operations are the Call operations this SDK serves for a connector that
// reads; writeOperations are added for one that implements Writer.
var (
	operations      = []string{"read", "search"}
	writeOperations = []string{"read", "search", "create", "update"}
)

type pluginEnd struct {
	impl Connector
	w    *frameWriter
	base context.Context

	mu      sync.Mutex
	calls   map[uint64]context.CancelFunc
	waiters map[waiterKey]chan *transportReplyFrame
	seq     atomic.Uint64
	done    chan struct{} // closed when the reader has stopped
}

type waiterKey struct{ call, seq uint64 }

// transportReplyFrame is a decoded reply and the frame its bytes alias.
type transportReplyFrame struct {
	msg *transportReplyMsg
	fb  *frameBuf
}

// serveDataPlane serves impl on conn until the host closes it.
func serveDataPlane(conn net.Conn, impl Connector) error {
	// Calls derive from a context that is never cancelled: each call's own
	// cancel ends it (Cancel, its result sent, or the data plane ending, on
	// which receive cancels them all), and a child of a cancellable parent
	// would cost allocations per call to register with it.
	ctx := context.Background()
	pe := &pluginEnd{
		impl:    impl,
		w:       newFrameWriter(conn),
		base:    ctx,
		calls:   map[uint64]context.CancelFunc{},
		waiters: map[waiterKey]chan *transportReplyFrame{},
		done:    make(chan struct{}),
	}
	defer pe.w.close()
	hello := encodeHello(&helloMsg{protocol: ProtocolVersion, maxFrame: MaxFrameBytes, operations: operationsOf(impl)})
	if err := pe.w.send(ctx, frameHello, hello); err != nil {
		return err
	}
	err := pe.receive(newFrameReader(conn, MaxFrameBytes))
	close(pe.done)
	pe.mu.Lock()
	for _, cancel := range pe.calls {
		cancel()
	}
	pe.mu.Unlock()
	return err
}

func (pe *pluginEnd) receive(r *frameReader) error {
	for {
		kind, fb, err := r.next()
		if err != nil {
			return err
		}
		switch kind {
		case frameCall:
			c, err := decodeCall(fb.b)
			if err != nil {
				fb.release()
				return fmt.Errorf("call: %w", err)
			}
			pe.start(c, fb)
		case frameCancel:
			id, err := decodeCancel(fb.b)
			fb.release()
			if err != nil {
				return fmt.Errorf("cancel: %w", err)
			}
			pe.mu.Lock()
			cancel := pe.calls[id]
			pe.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		case frameTransportReply:
			m, err := decodeTransportReply(fb.b)
			if err != nil {
				fb.release()
				return fmt.Errorf("transport reply: %w", err)
			}
			pe.mu.Lock()
			ch := pe.waiters[waiterKey{m.callID, m.seq}]
			pe.mu.Unlock()
			if ch == nil {
				fb.release()
				continue
			}
			select {
			case ch <- &transportReplyFrame{m, fb}:
			default:
				fb.release() // a duplicate reply: the first one stands
			}
		default:
			// A frame kind of a newer host: ignored.
			fb.release()
		}
	}
}

// start runs a Call; fb holds the call's bytes until it ends.
func (pe *pluginEnd) start(c *callMsg, fb *frameBuf) {
	var ctx context.Context
	var cancel context.CancelFunc
	if c.deadline != 0 {
		ctx, cancel = context.WithDeadline(pe.base, time.Unix(0, c.deadline))
	} else {
		ctx, cancel = context.WithCancel(pe.base)
	}
	pe.mu.Lock()
	if _, dup := pe.calls[c.id]; dup {
		// The host never reuses a call id in flight: ignore the copy.
		pe.mu.Unlock()
		cancel()
		fb.release()
		return
	}
	pe.calls[c.id] = cancel
	pe.mu.Unlock()
	go pe.run(ctx, cancel, c, fb)
}

func (pe *pluginEnd) run(ctx context.Context, cancel context.CancelFunc, c *callMsg, fb *frameBuf) {
	tr := &c.transport
	tr.pe, tr.callID, tr.prefetch, tr.prefetchRequest = pe, c.id, c.prefetch, c.prefetchRequest
	defer func() {
		cancel()
		tr.releaseFrames()
		fb.release()
	}()
	var (
		one      [1]json.RawMessage
		records  []json.RawMessage
		next     string
		version  string
		replayed bool
		err      error
		panicked bool
	)
	func() {
		defer func() {
			if recover() != nil {
				panicked, err = true, &Error{Code: CodeInternal}
			}
		}()
		switch {
		case c.read != nil:
			c.read.Transport = tr
			var resp *ReadResponse
			if resp, err = pe.impl.Read(ctx, c.read); err == nil {
				one[0], version = resp.Record, resp.Version
				records = one[:]
			}
		case c.search != nil:
			c.search.Transport = tr
			var resp *SearchResponse
			if resp, err = pe.impl.Search(ctx, c.search); err == nil {
				records, next = resp.Records, resp.NextPageToken
			}
		case c.mapEvent != nil:
			records, err = pe.mapEvent(ctx, c.mapEvent)
		case c.create != nil || c.update != nil:
			var resp *WriteResponse
			if resp, err = pe.write(ctx, c, tr); err == nil {
				one[0], version, replayed = resp.Record, resp.Version, resp.Replayed
				records = one[:]
			} else if ce := (*Error)(nil); errors.As(err, &ce) && ce.Code == CodeVersionConflict {
				version = ce.Version
			}
		default:
			// An operation of a newer host.
			err = &Error{Code: CodeUnsupported, Param: "operation"}
		}
	}()
	if !ValidVersion(version) {
		version = ""
	}
	out := encodeResultVersion(c.id, err, panicked, records, next, tr.prefetchUsed, version, replayed)
	if len(out.b)-4 > MaxFrameBytes { // kind and payload, as send counts
		// Over the limit: this call fails; the data plane and every other
		// call on it go on.
		out.release()
		out = encodeResult(c.id, &Error{Code: CodeInternal}, false, nil, "", tr.prefetchUsed)
	}
	// The call is over before its Result leaves: the host may reuse its id
	// as soon as it has the Result.
	pe.mu.Lock()
	delete(pe.calls, c.id)
	pe.mu.Unlock()
	// The host has given up on a call whose context ended; the Result is
	// still sent when there is room, and the host drops it.
	_ = pe.w.send(pe.base, frameResult, out)
}

// write runs a create or an update; a connector that does not write
// answers unsupported (the host sends writes only to a plugin that
// announced them, so this is a host's mistake).
func (pe *pluginEnd) write(ctx context.Context, c *callMsg, tr Transport) (*WriteResponse, error) {
	w, ok := pe.impl.(Writer)
	if !ok {
		return nil, &Error{Code: CodeUnsupported, Param: "operation"}
	}
	var resp *WriteResponse
	var err error
	if c.create != nil {
		c.create.Transport = tr
		resp, err = w.Create(ctx, c.create)
	} else {
		c.update.Transport = tr
		resp, err = w.Update(ctx, c.update)
	}
	if err == nil && resp == nil {
		err = &Error{Code: CodeInternal}
	}
	return resp, err
}

// planeTransport is the connector's Transport for one call.
type planeTransport struct {
	pe     *pluginEnd
	callID uint64

	mu              sync.Mutex
	prefetch        *HTTPResponse // answers the first request that matches prefetchRequest
	prefetchRequest []byte
	prefetchUsed    bool
	frames          []*frameBuf // replies whose bytes the connector may hold
}

var (
	_ Transport = (*planeTransport)(nil)
	_ Exchanger = (*planeTransport)(nil)
)

func (t *planeTransport) Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	if resp := t.takePrefetch(req); resp != nil {
		return resp, nil
	}
	r, err := t.roundTrip(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	if r.exchange {
		return nil, Errorf(CodeInternal, "transport reply of the wrong kind")
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.http, nil
}

// Exchange sends one message through the host's message transport (MLLP).
func (t *planeTransport) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	r, err := t.roundTrip(ctx, nil, msg)
	if err != nil {
		return nil, err
	}
	if !r.exchange {
		return nil, Errorf(CodeInternal, "transport reply of the wrong kind")
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.message, nil
}

// takePrefetch returns the prefetched answer when req is exactly the
// prefetched request (compared as encoded: method, path, query and headers
// in order, body), once.
func (t *planeTransport) takePrefetch(req *HTTPRequest) *HTTPResponse {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.prefetch == nil || t.prefetchUsed {
		return nil
	}
	r := *req
	if r.Method == "" {
		r.Method = "GET"
	}
	scratch := getFrame(sizeHTTPRequest(&r))
	scratch.b = appendHTTPRequestFields(scratch.b[:0], &r)
	same := bytes.Equal(scratch.b, t.prefetchRequest)
	scratch.release()
	if !same {
		return nil
	}
	t.prefetchUsed = true
	return t.prefetch
}

// roundTrip sends a TransportCall, an HTTP request or (http nil) a message
// exchange, and waits for the reply, the end of ctx or the end of the data
// plane.
func (t *planeTransport) roundTrip(ctx context.Context, http *HTTPRequest, msg []byte) (*transportReplyMsg, error) {
	pe := t.pe
	seq := pe.seq.Add(1)
	fb := encodeTransportCall(t.callID, seq, http, msg)
	key := waiterKey{t.callID, seq}
	ch := make(chan *transportReplyFrame, 1)
	pe.mu.Lock()
	pe.waiters[key] = ch
	pe.mu.Unlock()
	defer func() {
		pe.mu.Lock()
		delete(pe.waiters, key)
		pe.mu.Unlock()
		// A reply that came as the call gave up is never read: its frame
		// goes back to the pool.
		select {
		case r := <-ch:
			r.fb.release()
		default:
		}
	}()
	if len(fb.b)-4 > MaxFrameBytes {
		fb.release()
		return nil, Errorf(CodeInternal, "transport request over the frame size limit")
	}
	if err := pe.w.send(ctx, frameTransportCall, fb); err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
		}
		return nil, &Error{Code: CodeInternal, Err: err}
	}
	select {
	case r := <-ch:
		t.mu.Lock()
		t.frames = append(t.frames, r.fb)
		t.mu.Unlock()
		return r.msg, nil
	case <-ctx.Done():
		return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
	case <-pe.done:
		return nil, &Error{Code: CodeInternal, Err: errConnClosed}
	}
}

func (t *planeTransport) releaseFrames() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, fb := range t.frames {
		fb.release()
	}
	t.frames = nil
}

var errNoDataPlane = errors.New("no data plane: a connector plugin is started by the Ferry host, which hands it one")
