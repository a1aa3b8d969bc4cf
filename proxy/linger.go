package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// A request refused before its body was read (413 request_too_large, a
// malformed request) leaves the client's body in the socket. Closing a
// TCP socket with unread data makes the kernel send RST, and an RST makes
// the client's kernel drop what it had not yet handed to the application:
// the client sees "connection reset" instead of the problem+json answer
// already written. fasthttp closes at once, so Ferry lingers as nginx
// does: half-close, read and discard what the client still sends for a
// bounded time and size, then close.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 64 << 20
	// lingerSlots bounds the connections lingering at once; past it a
	// refused connection is closed at once, as before.
	lingerSlots = 256
)

// lingerListener hands out connections that can be told to linger.
type lingerListener struct {
	net.Listener
	slots chan struct{}
}

func newLingerListener(ln net.Listener) net.Listener {
	return &lingerListener{Listener: ln, slots: make(chan struct{}, lingerSlots)}
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, slots: l.slots}, nil
}

type lingerConn struct {
	net.Conn
	slots  chan struct{}
	linger atomic.Bool
}

// Close closes at once unless the connection was marked by lingerOnClose.
func (c *lingerConn) Close() error {
	if !c.linger.Load() {
		return c.Conn.Close()
	}
	select {
	case c.slots <- struct{}{}:
	default:
		return c.Conn.Close()
	}
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite() // the client reads the answer, then EOF
	}
	go func() {
		defer func() { <-c.slots }()
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
		_ = c.Conn.Close()
	}()
	return nil
}

// lingerOnClose marks the connection under c (through TLS and PROXY
// protocol wrappers) to linger when it is closed.
func lingerOnClose(c net.Conn) {
	for c != nil {
		switch v := c.(type) {
		case *lingerConn:
			v.linger.Store(true)
			return
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = v.NetConn()
		case interface{ Raw() net.Conn }: // *proxyproto.Conn
			c = v.Raw()
		default:
			return
		}
	}
}

// A connection that sends nothing before the read timeout is not a
// request: fasthttp still hands the first one's timeout to the
// ErrorHandler (clients such as Go's open spare connections they may
// never use). countReads counts what the client sent on the connection,
// after TLS, so serveParseError can tell "nothing came" from "a request
// came too slowly".
type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if t, ok := c.(*tls.Conn); ok {
		// Keeps Handshake and ConnectionState, which fasthttp looks for.
		return &tlsReadCounter{Conn: t}, nil
	}
	return &readCounter{Conn: c}, nil
}

// readCounter and tlsReadCounter count the bytes read from the client;
// only the connection's serving goroutine reads them.
type readCounter struct {
	net.Conn
	n int64
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *readCounter) NetConn() net.Conn { return c.Conn }

type tlsReadCounter struct {
	*tls.Conn
	n int64
}

func (c *tlsReadCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += int64(n)
	return n, err
}

// sentNothing says the client sent no byte of a request on c.
func sentNothing(c net.Conn) bool {
	switch v := c.(type) {
	case *readCounter:
		return v.n == 0
	case *tlsReadCounter:
		return v.n == 0
	}
	return false
}
