package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/internal/clock"
)

// maxSourceConns is the most calls one connection has in flight to its
// source (so the most sockets it holds there); the next ones wait for a
// free one within their deadline.
const maxSourceConns = 512

// Clients are the HTTP clients of a node's sources, one per origin
// (scheme, host and port, TLS server name) and egress policy, shared by
// the connections that name it. A client holds no tenant state: the
// credential is set on each request (applyAuth), and the pooled sockets,
// their buffers and their idle-connection cleaner exist once per source
// instead of once per connection. Each connection keeps its own bounds:
// its guard (bulkhead, breaker, pacer, retry budget), and at most
// maxSourceConns calls on the shared pool (httpSource.calls), which grows
// by that much for every connection that shares it, so no connection waits
// for a socket another one holds.
//
// Clients also carry what every source of the node shares: the answer
// limit and the clock.
type Clients struct {
	userAgent string
	maxBody   int
	clk       clock.Clock
	idle      time.Duration
	// mu guards byKey and serving: a reload adds clients while requests
	// are served.
	mu      sync.Mutex
	byKey   map[clientKey]*fasthttp.HostClient
	serving bool
}

// clientKey is what tells two sources' clients apart: the origin, the
// egress policy and the CAs trusted (ca_file).
type clientKey struct {
	addr, serverName  string
	tls, allowPrivate bool
	caFile            string
}

// defaultIdle is how long an idle socket to a source is kept open.
const defaultIdle = 30 * time.Second

// NewClients makes the node's source clients: requests carry userAgent,
// answers are bounded by maxBody (limits.max_upstream_body_bytes). clk nil
// is the system clock.
func NewClients(userAgent string, maxBody int, clk clock.Clock) *Clients {
	return &Clients{userAgent: userAgent, maxBody: maxBody, clk: clock.Or(clk), idle: defaultIdle,
		byKey: map[clientKey]*fasthttp.HostClient{}}
}

// get returns the client of an origin, egress policy and CA set (roots,
// nil for the system's), building it on first use. A client built while
// the server is built makes room in its pool for each connection that
// shares it; one shared by a connection a reload adds is shared as it is
// (its pool is in use).
func (sc *Clients) get(k clientKey, roots *x509.CertPool) *fasthttp.HostClient {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if c := sc.byKey[k]; c != nil {
		if !sc.serving {
			c.MaxConns += maxSourceConns
		}
		return c
	}
	dialer := egressDialer(k.allowPrivate)
	c := &fasthttp.HostClient{
		Addr:                k.addr,
		Name:                sc.userAgent,
		IsTLS:               k.tls,
		MaxResponseBodySize: sc.maxBody,
		MaxConns:            maxSourceConns,
		// A call that finds every connection busy waits for one, until its
		// deadline (DoDeadline bounds the wait by it), instead of failing
		// at once: a slow source with many requests in flight is not down.
		MaxConnWaitTimeout:     time.Hour,
		MaxIdleConnDuration:    sc.idle,
		DisablePathNormalizing: true,
		// One attempt per call: the transport retries itself, only
		// idempotent reads, only after connection errors, within the
		// connection's retry budget and the request's deadline.
		MaxIdemponentCallAttempts: 1,
		// fasthttp prefers DialTimeout over Dial, so this is the only dial
		// path: every connection goes through the egress check.
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			return dialer.DialContext(ctx, "tcp", addr)
		},
	}
	if k.tls {
		c.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.serverName, RootCAs: roots}
	}
	sc.byKey[k] = c
	return c
}

// SetIdleTimeout changes how long an idle socket to a source is kept open
// (30 s by default), on every client. Tests shorten it, so that a finished
// test leaves no socket, nor fasthttp's cleaner goroutine, behind.
func (sc *Clients) SetIdleTimeout(d time.Duration) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.idle = d
	for _, c := range sc.byKey {
		c.MaxIdleConnDuration = d
	}
}

// Serving marks the end of the server's build: from now on the clients'
// pools are in use, and are not resized.
func (sc *Clients) Serving() {
	sc.mu.Lock()
	sc.serving = true
	sc.mu.Unlock()
}

// CloseIdle drops the idle sockets of every client, at shutdown.
func (sc *Clients) CloseIdle() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, c := range sc.byKey {
		c.CloseIdleConnections()
	}
}

// loadRoots reads a ca_file: the only CAs the connection's TLS peers may
// be signed by. "" is nil: the system's roots.
func loadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}
