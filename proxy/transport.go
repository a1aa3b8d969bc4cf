package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/mllp"
	"github.com/ferryhealth/ferry/proxy/outauth"
	"github.com/ferryhealth/ferry/proxy/secrets"
)

// source is the host's client for one connection's source system, built once
// at start. Everything a plugin asks of the source goes through it.
type source struct {
	conn   *config.Connection
	auth   outauth.Authenticator // nil for auth kind "none"
	scheme string
	host   string // Host header value
	prefix string // base path, always ending in "/"
	// client is the HTTP client, nil for an MLLP source. It is shared by
	// every connection of this node with the same origin and egress
	// policy (sourceClients); calls bounds this connection's share of it.
	client *fasthttp.HostClient
	// calls holds one token per call of this connection in flight on the
	// shared client: at most maxSourceConns, as when each connection had a
	// pool of its own.
	calls chan struct{}
	// mllp is the client of an mllp:// or mllps:// source, nil for HTTP;
	// maxMessage bounds what a connector may send through it
	// (mllptransport.go).
	mllp       *mllp.Client
	mllpTurn   chan struct{} // one exchange at a time, queued by deadline
	maxMessage int
	// res paces the calls and budgets the retries (set by the server).
	res *resilience

	log *slog.Logger
	// credLogAt is when a credential failure was last logged (UnixNano):
	// an outage fails every request, and one line per interval says enough.
	credLogAt atomic.Int64
}

// credLogInterval is the least time between two logged credential failures
// of one connection; every failed request is still audited.
const credLogInterval = 10 * time.Second

// maxSourceConns is the most calls one connection has in flight to its
// source (so the most sockets it holds there); the next ones wait for a
// free one within their deadline.
const maxSourceConns = 512

// sourceClients are the HTTP clients of a node's sources, one per origin
// (scheme, host and port, TLS server name) and egress policy, shared by
// the connections that name it. A client holds no tenant state: the
// credential is set on each request (applyAuth), and the pooled sockets,
// their buffers and their idle-connection cleaner exist once per source
// instead of once per connection. Each connection keeps its own bounds:
// its bulkhead, breaker, pacer and retry budget (resilience), and at most
// maxSourceConns calls on the shared pool (source.calls), which grows by
// that much for every connection that shares it, so no connection waits
// for a socket another one holds.
type sourceClients struct {
	userAgent string
	maxBody   int
	byKey     map[sourceClientKey]*fasthttp.HostClient
}

type sourceClientKey struct {
	addr, serverName  string
	tls, allowPrivate bool
}

func newSourceClients(userAgent string, maxBody int) *sourceClients {
	return &sourceClients{userAgent: userAgent, maxBody: maxBody, byKey: map[sourceClientKey]*fasthttp.HostClient{}}
}

// get returns the client of an origin and egress policy, building it on
// first use, and makes room in its pool for one more connection. It is
// called while the server is built, before any request.
func (sc *sourceClients) get(addr, serverName string, isTLS, allowPrivate bool) *fasthttp.HostClient {
	k := sourceClientKey{addr: addr, serverName: serverName, tls: isTLS, allowPrivate: allowPrivate}
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
		MaxIdleConnDuration:    30 * time.Second,
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

// closeIdle drops the idle sockets of every client, at shutdown.
func (sc *sourceClients) closeIdle() {
	for _, c := range sc.byKey {
		c.CloseIdleConnections()
	}
}

// newSource builds the client of a connection's source. sp is the secrets
// provider of the connection's tenant, and no other's. An HTTP source's
// client comes from clients, shared with the other connections to the same
// origin under the same egress policy.
func newSource(cn *config.Connection, sp secrets.Provider, devMode bool, clients *sourceClients, log *slog.Logger) (*source, error) {
	u, err := url.Parse(cn.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("connection %q: base_url: %w", cn.ID, err)
	}
	if isMLLP(u.Scheme) {
		return newMLLPSource(cn, u, clients.maxBody, log)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	prefix := u.EscapedPath()
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	auth, err := newAuthenticator(cn, sp, devMode)
	if err != nil {
		return nil, fmt.Errorf("connection %q: auth: %w", cn.ID, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &source{conn: cn, auth: auth, scheme: u.Scheme, host: u.Host, prefix: prefix, log: log,
		calls: make(chan struct{}, maxSourceConns)}
	s.client = clients.get(addr, u.Hostname(), u.Scheme == "https", cn.AllowPrivateNetwork)
	return s, nil
}

// acquireCall takes one of the connection's call tokens: at once, or when
// one frees up before the deadline. Waiting out the deadline fails as a
// pool wait on the client would (fasthttp.ErrTimeout).
func (s *source) acquireCall(ctx context.Context, deadline time.Time) error {
	select {
	case s.calls <- struct{}{}:
		return nil
	default:
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return fasthttp.ErrTimeout
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.calls <- struct{}{}:
		return nil
	case <-t.C:
		return fasthttp.ErrTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// requestTransport is the Transport lent to a connector for one request.
type requestTransport struct {
	src       *source
	requestID string
	readOnly  bool
	upstream  *atomic.Int64   // nanoseconds spent waiting on the source
	rec       *upstreamRecord // what the source answered, for the request
}

var _ connectors.Transport = (*requestTransport)(nil)

func (t *requestTransport) Do(ctx context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	if t.src.client == nil {
		return nil, &connectors.Error{Code: connectors.CodeUnsupported, Err: errNotHTTP}
	}
	method := req.Method
	if method == "" {
		method = fasthttp.MethodGet
	}
	// A connector asking for a write during a read, or for a path outside
	// the base URL, is a connector bug (or an attack): CodeInternal, which
	// the client sees as connector_error.
	if t.readOnly && method != fasthttp.MethodGet && method != fasthttp.MethodHead {
		return nil, connectors.Errorf(connectors.CodeInternal, "method %s refused on a read", method)
	}
	if !connectors.ValidRelativePath(req.Path) {
		return nil, connectors.Errorf(connectors.CodeInternal, "path refused by the egress policy")
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(t.src.conn.Timeout.D())
	}

	fr := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(fr)
	defer fasthttp.ReleaseResponse(resp)

	uri := fr.URI()
	uri.SetScheme(t.src.scheme)
	uri.SetHost(t.src.host)
	uri.SetPath(t.src.prefix + req.Path)
	if !t.src.allowsURI(uri) { // egress.go
		return nil, connectors.Errorf(connectors.CodeInternal, "path refused by the egress policy")
	}
	if len(req.Query) > 0 {
		args := uri.QueryArgs()
		for _, q := range req.Query {
			args.Add(q.Name, q.Value)
		}
	}
	fr.Header.SetMethod(method)
	for _, h := range req.Header {
		if connectors.RequestHeaderAllowed(h.Name) {
			fr.Header.Set(h.Name, h.Value)
		}
	}
	if t.requestID != "" {
		fr.Header.Set("X-Request-Id", t.requestID)
	}
	if len(req.Body) > 0 {
		fr.SetBody(req.Body)
	}
	cred, err := t.applyAuth(ctx, fr)
	if err != nil {
		return nil, err
	}
	idempotent := method == fasthttp.MethodGet || method == fasthttp.MethodHead
	if err := t.call(ctx, fr, resp, deadline, idempotent); err != nil {
		return nil, err
	}
	// The source refused the credential: a rotated secret, an expired or
	// revoked token. When the authenticator has (or will fetch) a newer
	// one, the request is sent again, once. That is safe for every method:
	// the request is held whole in memory (its body too), and a 401 means
	// the source did not act on it.
	if resp.StatusCode() == fasthttp.StatusUnauthorized && t.src.auth != nil && t.src.auth.Rejected(ctx, cred) {
		if _, err := t.applyAuth(ctx, fr); err != nil {
			return nil, err
		}
		resp.Reset()
		if err := t.call(ctx, fr, resp, deadline, idempotent); err != nil {
			return nil, err
		}
	}
	out := &connectors.HTTPResponse{Status: resp.StatusCode(), Body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		if connectors.ResponseHeaderAllowed(view(k)) {
			out.Header = append(out.Header, connectors.Param{Name: connectors.InternHeader(k), Value: connectors.InternHeaderValue(v)})
		}
	}
	return out, nil
}

// call makes one HTTP source call through the connection's hold, pacer
// and retry budget (resilience.callSource).
func (t *requestTransport) call(ctx context.Context, fr *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, idempotent bool) error {
	return t.src.res.callSource(ctx, t.rec, deadline, idempotent, func() error {
		resp.Reset()
		if err := t.send(ctx, fr, resp, deadline); err != nil {
			return err
		}
		t.rec.noteAnswer(resp, t.src.res)
		return nil
	})
}

// send makes one attempt and counts the time spent waiting on the source.
func (t *requestTransport) send(ctx context.Context, fr *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	// Only the call itself is the source's time: a wait for one of the
	// connection's call slots is Ferry's own queue.
	err := t.src.acquireCall(ctx, deadline)
	if err == nil {
		start := time.Now()
		err = t.src.client.DoDeadline(fr, resp, deadline)
		t.upstream.Add(int64(time.Since(start)))
		<-t.src.calls
	}
	if err != nil {
		return classifyUpstreamErr(ctx, err)
	}
	return nil
}

// faultOf says how a classified source call failed, for the breaker and
// the retry decision.
func faultOf(ctx context.Context, err error) fault {
	if errors.Is(ctx.Err(), context.Canceled) {
		return faultCanceled
	}
	if errors.Is(err, fasthttp.ErrNoFreeConns) || errors.Is(err, errMLLPBusy) {
		return faultPool
	}
	switch connectors.CodeOf(err) {
	case connectors.CodeUpstreamTimeout:
		return faultTimeout
	case connectors.CodeUpstream:
		return faultAnswer
	}
	return faultConnect
}

// applyAuth sets the connection's credential on fr, as the authenticator
// gives it for this request: from the tenant's secret (cached in memory by
// the provider) or a token (cached until it expires). The header value
// lives in fr only, which is released when the request ends.
func (t *requestTransport) applyAuth(ctx context.Context, fr *fasthttp.Request) (outauth.Credential, error) {
	if t.src.auth == nil {
		return outauth.Credential{}, nil
	}
	c, err := t.src.auth.Credential(ctx)
	if err != nil || c.Value.Empty() {
		t.src.credentialFailed(err)
		// No cause travels with the code: the connector is untrusted, and
		// the client needs only credentials_unavailable.
		return c, &connectors.Error{Code: connectors.CodeCredentialsUnavailable}
	}
	fr.Header.SetBytesV(c.Header, c.Value.Reveal())
	return c, nil
}

// credentialFailed logs why a credential was unavailable, at most once per
// credLogInterval. Provider and token errors name the operation, the AWS
// or OAuth2 error code and the HTTP status: never a secret, nor the text of
// an answer.
func (s *source) credentialFailed(err error) {
	now := time.Now().UnixNano()
	last := s.credLogAt.Load()
	if now-last < int64(credLogInterval) || !s.credLogAt.CompareAndSwap(last, now) {
		return
	}
	why := "empty credential"
	if err != nil {
		why = err.Error()
	}
	s.log.Warn("source credential unavailable", "connection", s.conn.ID, "auth_kind", s.conn.Auth.Kind, "error", why)
}

func classifyUpstreamErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), ctx.Err() != nil:
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return &connectors.Error{Code: connectors.CodeUpstream}
	case errors.Is(err, errEgressDenied):
		return &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: errEgressDenied}
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		// Ferry's own pool, not the source: see faultPool.
		return &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: fasthttp.ErrNoFreeConns}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	}
	// Connection refused, reset, TLS failure, malformed answer: the source
	// could not give an answer. The error text stays here (it may name the
	// host, never PHI, but clients need only the code).
	return &connectors.Error{Code: connectors.CodeSourceUnavailable}
}
