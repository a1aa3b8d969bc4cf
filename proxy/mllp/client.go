package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Kind classifies a Client error for the host, which maps it to a connector
// error code.
type Kind uint8

// The error kinds.
const (
	// KindTimeout: the context's deadline passed, or it was cancelled,
	// before the answer arrived (connectors.CodeUpstreamTimeout).
	KindTimeout Kind = iota + 1
	// KindUnavailable: the source could not be reached, or closed or reset
	// the connection (connectors.CodeSourceUnavailable).
	KindUnavailable
	// KindProtocol: the source broke MLLP framing or sent a frame larger
	// than allowed; or the message could not be framed
	// (connectors.CodeUpstream).
	KindProtocol
)

func (k Kind) String() string {
	switch k {
	case KindTimeout:
		return "timeout"
	case KindUnavailable:
		return "unavailable"
	case KindProtocol:
		return "protocol"
	}
	return "unknown"
}

// Sentinels for errors.Is: errors.Is(err, mllp.ErrTimeout) holds for every
// *Error of KindTimeout, and so on.
var (
	ErrTimeout     = &Error{Kind: KindTimeout}
	ErrUnavailable = &Error{Kind: KindUnavailable}
	ErrProtocol    = &Error{Kind: KindProtocol}
)

// Error is a failed exchange. Its text names the step and the cause (a
// network error, one of this package's protocol errors), never message
// content.
type Error struct {
	Kind Kind
	Op   string // "dial", "handshake", "write", "read" or "frame"
	Err  error
}

func (e *Error) Error() string {
	s := "mllp: " + e.Kind.String()
	if e.Op != "" {
		s += " (" + e.Op + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the kind sentinels.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Err == nil && t.Kind == e.Kind
}

// Timeout reports whether the exchange ran out of time.
func (e *Error) Timeout() bool { return e.Kind == KindTimeout }

// Config configures a Client. Addr is required; every other field has a
// default.
type Config struct {
	// Addr is the source's host:port.
	Addr string
	// TLS, when set, makes the connection TLS with this configuration
	// (cloned; MinVersion is raised to TLS 1.2, and ServerName defaults to
	// Addr's host). Nil means plain TCP.
	TLS *tls.Config
	// Dial opens the TCP connection; default a net.Dialer. The host passes
	// its egress-checking dialer here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxFrame bounds an answer's size in bytes; default DefaultMaxFrame.
	MaxFrame int
	// Timeout bounds an exchange whose context has no deadline; default
	// 30 s. A context deadline always wins.
	Timeout time.Duration
	// IdleTimeout closes a connection left unused this long, before it is
	// used again (MLLP servers drop idle connections); default 60 s.
	IdleTimeout time.Duration
}

// Client exchanges MLLP messages with one source over one connection.
// It is safe for concurrent use; exchanges are serialized.
type Client struct {
	cfg Config
	// turn is a one-slot semaphore: holding it is having the connection.
	turn chan struct{}

	// mu guards the fields below, which the holder of turn uses and Close
	// may interrupt.
	mu       sync.Mutex
	conn     net.Conn
	rd       *Reader
	lastUsed time.Time
	closed   bool
}

// NewClient returns a client for cfg. It does not connect: the first
// Exchange does.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("mllp: no address")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, errors.New("mllp: the address must be host:port")
	}
	if cfg.Dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.TLS != nil {
		t := cfg.TLS.Clone()
		if t.MinVersion < tls.VersionTLS12 {
			t.MinVersion = tls.VersionTLS12
		}
		if t.ServerName == "" {
			t.ServerName, _, _ = net.SplitHostPort(cfg.Addr)
		}
		cfg.TLS = t
	}
	c := &Client{cfg: cfg, turn: make(chan struct{}, 1)}
	return c, nil
}

// errClosed is the cause of exchanges on a closed client.
var errClosed = errors.New("mllp: client closed")

// Exchange sends msg (an HL7 message, unframed) and returns the content of
// the answer's frame. It waits for its turn, then for the answer, until the
// context's deadline (or the configured Timeout when the context has
// none).
func (c *Client) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	frame, err := AppendFrame(nil, msg)
	if err != nil {
		return nil, &Error{Kind: KindProtocol, Op: "frame", Err: err}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, &Error{Kind: KindTimeout, Op: "wait", Err: ctx.Err()}
	}
	defer func() { <-c.turn }()

	reply, reused, err := c.exchangeOnce(ctx, frame)
	if err != nil && reused && staleConn(err) && ctx.Err() == nil {
		// The peer closed the idle connection before reading the request:
		// nothing was processed, so it is sent again on a new connection.
		reply, _, err = c.exchangeOnce(ctx, frame)
	}
	return reply, err
}

// staleErr marks a failure on a reused connection before any byte of an
// answer arrived.
type staleErr struct{ error }

func (e staleErr) Unwrap() error { return e.error }

func staleConn(err error) bool {
	var s staleErr
	return errors.As(err, &s)
}

// exchangeOnce performs one exchange; reused says whether it used a
// connection an earlier exchange had opened. Any error drops the
// connection.
func (c *Client) exchangeOnce(ctx context.Context, frame []byte) (reply []byte, reused bool, err error) {
	conn, rd, reused, err := c.connection(ctx)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if err != nil {
			c.drop(conn)
		}
	}()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, reused, c.classify(ctx, "write", err)
	}
	// Cancellation without a deadline change still interrupts blocked I/O.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(frame); err != nil {
		e := c.classify(ctx, "write", err)
		if reused && e.Kind == KindUnavailable {
			return nil, reused, staleErr{e}
		}
		return nil, reused, e
	}
	reply, err = rd.ReadFrame()
	if err != nil {
		e := c.classify(ctx, "read", err)
		if reused && rd.consumed == 0 && e.Kind == KindUnavailable {
			return nil, reused, staleErr{e}
		}
		return nil, reused, e
	}
	if rd.Buffered() > 0 {
		// More than one answer to one request: whatever follows would be
		// read as the answer to the next. Start that one afresh.
		c.drop(conn)
	} else {
		_ = conn.SetDeadline(time.Time{})
		c.mu.Lock()
		c.lastUsed = time.Now()
		c.mu.Unlock()
	}
	return reply, reused, nil
}

// connection returns the open connection, or dials one.
func (c *Client) connection(ctx context.Context) (net.Conn, *Reader, bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, false, &Error{Kind: KindUnavailable, Err: errClosed}
	}
	if c.conn != nil && time.Since(c.lastUsed) > c.cfg.IdleTimeout {
		_ = c.conn.Close()
		c.conn, c.rd = nil, nil
	}
	if c.conn != nil {
		conn, rd := c.conn, c.rd
		c.mu.Unlock()
		return conn, rd, true, nil
	}
	c.mu.Unlock()

	conn, err := c.cfg.Dial(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, nil, false, c.classify(ctx, "dial", err)
	}
	if c.cfg.TLS != nil {
		tc := tls.Client(conn, c.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			e := c.classify(ctx, "handshake", err)
			if e.Kind != KindTimeout {
				// A failed handshake is a source we cannot talk to, not a
				// framing problem.
				e.Kind = KindUnavailable
			}
			return nil, nil, false, e
		}
		conn = tc
	}
	rd := NewReader(conn, c.cfg.MaxFrame)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = conn.Close()
		return nil, nil, false, &Error{Kind: KindUnavailable, Err: errClosed}
	}
	c.conn, c.rd, c.lastUsed = conn, rd, time.Now()
	return conn, rd, false, nil
}

// drop closes conn and forgets it, if it is still the client's.
func (c *Client) drop(conn net.Conn) {
	_ = conn.Close()
	c.mu.Lock()
	if c.conn == conn {
		c.conn, c.rd = nil, nil
	}
	c.mu.Unlock()
}

// classify turns an I/O error into an *Error of the right kind.
func (c *Client) classify(ctx context.Context, op string, err error) *Error {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return &Error{Kind: KindTimeout, Op: op, Err: ctx.Err()}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Kind: KindTimeout, Op: op, Err: err}
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMissingTrailer), errors.Is(err, ErrBadTrailer),
		errors.Is(err, ErrNestedStart), errors.Is(err, ErrNoFrame), errors.Is(err, ErrStrayBytes):
		return &Error{Kind: KindProtocol, Op: op, Err: err}
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return &Error{Kind: KindUnavailable, Op: op, Err: err}
	}
	return &Error{Kind: KindUnavailable, Op: op, Err: err}
}

// Close closes the connection, interrupting an exchange in flight, and makes
// every later Exchange fail. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		err := c.conn.Close()
		c.conn, c.rd = nil, nil
		return err
	}
	return nil
}
