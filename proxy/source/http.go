package source

import (
	"context"
	"crypto/x509"
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
	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/outauth"
	"github.com/ferryhealth/ferry/proxy/tracing"
)

// httpSource is the source of an http:// or https:// connection.
type httpSource struct {
	conn   *config.Connection
	auth   outauth.Authenticator // nil for auth kind "none"
	scheme string
	host   string // Host header value
	prefix string // base path, always ending in "/"
	// client is shared by every connection of this node with the same
	// origin and egress policy (Clients); calls bounds this connection's
	// share of it.
	client *fasthttp.HostClient
	// calls holds one token per call of this connection in flight on the
	// shared client: at most maxSourceConns, as when each connection had a
	// pool of its own.
	calls chan struct{}
	clk   clock.Clock

	log *slog.Logger
	// credLogAt is when a credential failure was last logged (UnixNano):
	// an outage fails every request, and one line per interval says enough.
	credLogAt atomic.Int64
}

// credLogInterval is the least time between two logged credential failures
// of one connection; every failed request is still audited.
const credLogInterval = 10 * time.Second

// errNotHTTP is what an MLLP connection answers a connector's Do.
var errNotHTTP = errors.New("the connection's source speaks MLLP: use Exchange")

func newHTTPSource(cn *config.Connection, u *url.URL, o Options, roots *x509.CertPool) (*httpSource, error) {
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
	auth, err := newAuthenticator(cn, o.Secrets, o.DevMode, roots)
	if err != nil {
		return nil, fmt.Errorf("connection %q: auth: %w", cn.ID, err)
	}
	return &httpSource{conn: cn, auth: auth, scheme: u.Scheme, host: u.Host, prefix: prefix, log: o.Log,
		calls: make(chan struct{}, maxSourceConns),
		client: o.Clients.get(clientKey{addr: addr, serverName: u.Hostname(), tls: u.Scheme == "https",
			allowPrivate: cn.AllowPrivateNetwork, caFile: cn.CAFile}, roots),
		clk: o.Clients.clk,
	}, nil
}

func (s *httpSource) RelaysHTTP() bool { return true }

// Close has nothing to do: the shared clients' idle sockets are dropped by
// Clients.CloseIdle.
func (s *httpSource) Close() {}

func (s *httpSource) exchange(context.Context, *Transport, []byte) ([]byte, error) {
	return nil, &connectors.Error{Code: connectors.CodeUnsupported, Err: errNotMLLP}
}

func (s *httpSource) do(ctx context.Context, t *Transport, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
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
	if t.noDelete && method == fasthttp.MethodDelete {
		return nil, connectors.Errorf(connectors.CodeInternal, "DELETE refused on a write")
	}
	if !connectors.ValidRelativePath(req.Path) {
		return nil, connectors.Errorf(connectors.CodeInternal, "path refused by the egress policy")
	}
	deadline, _ := deadlineOf(ctx, s.clk, s.conn)

	fr := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(fr)
	defer fasthttp.ReleaseResponse(resp)

	uri := fr.URI()
	uri.SetScheme(s.scheme)
	uri.SetHost(s.host)
	uri.SetPath(s.prefix + req.Path)
	if !s.allowsURI(uri) { // egress.go
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
	// The source joins the request's trace (W3C traceparent of the source
	// call's span); whatever the connector set is replaced.
	tracing.Inject(ctx, &fr.Header)
	if len(req.Body) > 0 {
		fr.SetBody(req.Body)
	}
	cred, err := s.applyAuth(ctx, fr)
	if err != nil {
		return nil, err
	}
	idempotent := method == fasthttp.MethodGet || method == fasthttp.MethodHead
	if err := s.call(ctx, t, fr, resp, deadline, idempotent); err != nil {
		return nil, err
	}
	// The source refused the credential: a rotated secret, an expired or
	// revoked token. When the authenticator has (or will fetch) a newer
	// one, the request is sent again, once. That is safe for every method:
	// the request is held whole in memory (its body too), and a 401 means
	// the source did not act on it.
	if resp.StatusCode() == fasthttp.StatusUnauthorized && s.auth != nil && s.auth.Rejected(ctx, cred) {
		if _, err := s.applyAuth(ctx, fr); err != nil {
			return nil, err
		}
		resp.Reset()
		if err := s.call(ctx, t, fr, resp, deadline, idempotent); err != nil {
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

// call makes one HTTP source call through the connection's guard
// (Transport.call), recording the answer.
func (s *httpSource) call(ctx context.Context, t *Transport, fr *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, idempotent bool) error {
	return t.call(ctx, deadline, idempotent, func() error {
		resp.Reset()
		if err := s.send(ctx, t, fr, resp, deadline); err != nil {
			return err
		}
		t.rec.answered(resp, t.guard, s.clk.Now())
		return nil
	})
}

// send makes one attempt and counts the time spent waiting on the source.
func (s *httpSource) send(ctx context.Context, t *Transport, fr *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	// Only the call itself is the source's time: a wait for one of the
	// connection's call slots is Ferry's own queue.
	err := s.acquireCall(ctx, deadline)
	if err == nil {
		start := s.clk.Now()
		err = s.client.DoDeadline(fr, resp, deadline)
		t.rec.AddWait(s.clk.Now().Sub(start))
		<-s.calls
	}
	if err != nil {
		return classifyHTTPErr(ctx, err)
	}
	return nil
}

// acquireCall takes one of the connection's call tokens: at once, or when
// one frees up before the deadline. Waiting out the deadline fails as a
// pool wait on the client would (fasthttp.ErrTimeout).
func (s *httpSource) acquireCall(ctx context.Context, deadline time.Time) error {
	select {
	case s.calls <- struct{}{}:
		return nil
	default:
	}
	wait := deadline.Sub(s.clk.Now())
	if wait <= 0 {
		return fasthttp.ErrTimeout
	}
	t := s.clk.NewTimer(wait)
	defer t.Stop()
	select {
	case s.calls <- struct{}{}:
		return nil
	case <-t.C():
		return fasthttp.ErrTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// applyAuth sets the connection's credential on fr, as the authenticator
// gives it for this request: from the tenant's secret (cached in memory by
// the provider) or a token (cached until it expires). The header value
// lives in fr only, which is released when the request ends.
func (s *httpSource) applyAuth(ctx context.Context, fr *fasthttp.Request) (outauth.Credential, error) {
	if s.auth == nil {
		return outauth.Credential{}, nil
	}
	c, err := s.auth.Credential(ctx)
	if err != nil || c.Value.Empty() {
		s.credentialFailed(err)
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
func (s *httpSource) credentialFailed(err error) {
	now := s.clk.Now().UnixNano()
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

func classifyHTTPErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout), ctx.Err() != nil:
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return &connectors.Error{Code: connectors.CodeUpstream}
	case errors.Is(err, errEgressDenied):
		return &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: errEgressDenied}
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		// Ferry's own pool, not the source: see guard.FaultPool.
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
