package source

import (
	"context"
	"crypto/tls"
	"net"
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
	byKey     map[clientKey]*fasthttp.HostClient
}

type clientKey struct {
	addr, serverName  string
	tls, allowPrivate bool
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

// get returns the client of an origin and egress policy, building it on
// first use, and makes room in its pool for one more connection. It is
// called while the server is built, before any request.
func (sc *Clients) get(addr, serverName string, isTLS, allowPrivate bool) *fasthttp.HostClient {
	k := clientKey{addr: addr, serverName: serverName, tls: isTLS, allowPrivate: allowPrivate}
	if c := sc.byKey[k]; c != nil {
		c.MaxConns += maxSourceConns
		return c
	}
	dialer := egressDialer(allowPrivate)
	c := &fasthttp.HostClient{
		Addr:                addr,
		Name:                sc.userAgent,
		IsTLS:               isTLS,
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
	if isTLS {
		c.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	}
	sc.byKey[k] = c
	return c
}

// SetIdleTimeout changes how long an idle socket to a source is kept open
// (30 s by default), on every client. Tests shorten it, so that a finished
// test leaves no socket, nor fasthttp's cleaner goroutine, behind.
func (sc *Clients) SetIdleTimeout(d time.Duration) {
	sc.idle = d
	for _, c := range sc.byKey {
		c.MaxIdleConnDuration = d
	}
}

// CloseIdle drops the idle sockets of every client, at shutdown.
func (sc *Clients) CloseIdle() {
	for _, c := range sc.byKey {
		c.CloseIdleConnections()
	}
}
