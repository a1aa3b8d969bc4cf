package connectors

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// The data plane's frames (proto/connector.proto has the format and the
// messages): a 4-byte big-endian length, a kind byte, and the kind's
// message, protobuf-encoded. This file moves frames; framecodec.go (with
// framecall.go and frametransport.go) encodes and decodes their messages;
// hostend.go and pluginend.go are the two ends.

// frameKind is a frame's kind byte (FrameKind in the proto).
type frameKind byte

const (
	frameHello          frameKind = 1
	frameCall           frameKind = 2
	frameCancel         frameKind = 3
	frameResult         frameKind = 4
	frameTransportCall  frameKind = 5
	frameTransportReply frameKind = 6
)

// MaxFrameBytes bounds one data-plane frame (kind and payload) in either
// direction. The host caps source answers well below it, so a legitimate
// frame never reaches it; a peer that announces more is broken, and the
// connection ends.
const MaxFrameBytes = 64 << 20

// MaxMessageBytes bounds one control-plane gRPC message (Metadata,
// Configure) in either direction.
const MaxMessageBytes = 4 << 20

// frameHeaderLen is the length prefix and the kind byte.
const frameHeaderLen = 5

// errFrameTooLarge: a frame to send would break the limit; the call it
// belongs to fails, the connection goes on.
var errFrameTooLarge = errors.New("frame over the size limit")

// errConnClosed: the data plane has ended.
var errConnClosed = errors.New("data plane closed")

// frameBuf is one frame's bytes: pooled, so that a steady stream of
// requests reuses the same memory instead of feeding the GC.
type frameBuf struct {
	b []byte
}

// Buffers come from pools by size class; larger frames are allocated and
// left to the GC (they are rare: a 200-entry page is about 200 KB).
var frameClasses = [...]int{1 << 10, 8 << 10, 64 << 10, 512 << 10, 4 << 20}

var framePools [len(frameClasses)]sync.Pool

// getFrame returns a buffer of length n.
func getFrame(n int) *frameBuf {
	for i, c := range frameClasses {
		if n <= c {
			if fb, ok := framePools[i].Get().(*frameBuf); ok {
				fb.b = fb.b[:n]
				return fb
			}
			return &frameBuf{b: make([]byte, n, c)}
		}
	}
	return &frameBuf{b: make([]byte, n)}
}

// release returns the buffer to its pool. Nothing may use it, or any slice
// of it, afterwards. The bytes are cleared first: a frame may hold PHI, and
// pooled memory must not carry one request's data into another's. Every
// user writes only within the buffer's length, so clearing that length
// keeps the whole capacity clear.
func (fb *frameBuf) release() {
	if fb == nil {
		return
	}
	c := cap(fb.b)
	for i, size := range frameClasses {
		if c == size {
			clear(fb.b)
			fb.b = fb.b[:0]
			framePools[i].Put(fb)
			return
		}
	}
}

// frameReader reads frames from one connection. One goroutine reads.
type frameReader struct {
	r   *bufio.Reader
	max int
	hdr [frameHeaderLen]byte
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next reads one frame and returns its kind and payload, in a buffer the
// caller owns and must release.
func (fr *frameReader) next() (frameKind, *frameBuf, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(fr.hdr[:4]))
	if n < 1 || n > fr.max {
		return 0, nil, fmt.Errorf("frame of %d bytes, over the limit of %d", n, fr.max)
	}
	fb := getFrame(n - 1)
	if _, err := io.ReadFull(fr.r, fb.b); err != nil {
		fb.release()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return frameKind(fr.hdr[4]), fb, nil
}

// frameWriter sends frames on one connection. Senders queue encoded frames
// and never touch the socket: one goroutine writes everything queued with
// one writev, so that frames from many calls in flight share a system call,
// and a sender waits only for room in the queue, bounded by its context,
// never for a peer that has stopped reading.
type frameWriter struct {
	conn net.Conn

	mu     sync.Mutex
	queue  []*frameBuf
	queued int           // bytes in queue
	room   chan struct{} // closed and replaced when the queue is taken, if someone waits on it
	wait   bool          // a sender waits on room
	err    error         // why sending stopped

	wake     chan struct{} // cap 1: the queue has something
	quit     chan struct{} // closed by close
	quitOnce sync.Once
	done     chan struct{} // closed when the writer has stopped
}

// maxQueuedBytes bounds what waits for the socket: beyond it, senders wait.
const maxQueuedBytes = 2 * MaxFrameBytes

func newFrameWriter(conn net.Conn) *frameWriter {
	w := &frameWriter{
		conn: conn, room: make(chan struct{}),
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

// newFrame returns a buffer for a frame whose payload is n bytes, with room
// for the header in front.
func newFrame(n int) *frameBuf { return getFrame(frameHeaderLen + n) }

// send queues a frame built on a newFrame buffer; send fills in its header.
// The writer owns fb from then on, also when send fails.
func (w *frameWriter) send(ctx context.Context, kind frameKind, fb *frameBuf) error {
	n := len(fb.b) - 4
	if n > MaxFrameBytes {
		fb.release()
		return errFrameTooLarge
	}
	binary.BigEndian.PutUint32(fb.b[:4], uint32(n))
	fb.b[4] = byte(kind)
	for {
		w.mu.Lock()
		if w.err != nil {
			err := w.err
			w.mu.Unlock()
			fb.release()
			return err
		}
		if w.queued == 0 || w.queued+len(fb.b) <= maxQueuedBytes {
			w.queue = append(w.queue, fb)
			w.queued += len(fb.b)
			w.mu.Unlock()
			select {
			case w.wake <- struct{}{}:
			default:
			}
			return nil
		}
		room := w.room
		w.wait = true
		w.mu.Unlock()
		select {
		case <-room:
		case <-w.done:
		case <-ctx.Done():
			fb.release()
			return ctx.Err()
		}
	}
}

func (w *frameWriter) loop() {
	defer close(w.done)
	var batch []*frameBuf
	var iov net.Buffers
	for {
		quitting := false
		select {
		case <-w.wake:
		case <-w.quit:
			quitting = true
		}
		w.mu.Lock()
		batch, w.queue = w.queue, batch[:0]
		w.queued = 0
		if w.wait {
			close(w.room)
			w.room, w.wait = make(chan struct{}), false
		}
		w.mu.Unlock()
		if len(batch) > 0 {
			iov = iov[:0]
			for _, fb := range batch {
				iov = append(iov, fb.b)
			}
			// WriteTo consumes the slice it is called on; iov keeps its
			// backing array for the next batch.
			bufs := iov
			_, err := bufs.WriteTo(w.conn)
			for i, fb := range batch {
				fb.release()
				batch[i] = nil
			}
			clear(iov)
			if err != nil {
				w.stop(err)
				return
			}
		}
		if quitting {
			return
		}
	}
}

// stop makes every queued and later frame fail with err.
func (w *frameWriter) stop(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	for _, fb := range w.queue {
		fb.release()
	}
	w.queue, w.queued = nil, 0
	close(w.room)
	w.room, w.wait = make(chan struct{}), false
	w.mu.Unlock()
}

// close refuses later frames and stops the writer once what is queued has
// been written (or the connection failed).
func (w *frameWriter) close() {
	w.mu.Lock()
	if w.err == nil {
		w.err = errConnClosed
	}
	w.mu.Unlock()
	w.quitOnce.Do(func() { close(w.quit) })
}

// isEOF reports whether err is the peer closing the connection.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
