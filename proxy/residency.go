package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/tracing"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/residency"
	"github.com/ferryhealth/ferry/unified"
)

// homeRegion is another region of the deployment as this node sees it:
// where to send a client (421) and, in forward mode, the client that
// relays requests there.
type homeRegion struct {
	name     string
	endpoint string
	// prefix is the endpoint's path, without a trailing slash: the API's
	// /v1/... paths are appended to it.
	prefix string
	host   string
	client *fasthttp.HostClient // nil unless misdirected is "forward"
	// maxBody bounds a relayed answer (max_upstream_body_bytes).
	maxBody int64
}

// forwardMargin is added to the connection's longest deadline when
// relaying: the home node applies that deadline itself, and its answer
// needs time to come back.
const forwardMargin = 5 * time.Second

// newHomeRegions builds the view of every other region. Relay clients are
// built only in forward mode; each trusts the region's ca_file, or the
// system's roots.
func newHomeRegions(c *config.Config) (map[string]*homeRegion, error) {
	out := map[string]*homeRegion{}
	for _, r := range c.Regions {
		if r.Name == c.Node.Region {
			continue
		}
		u, err := url.Parse(r.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("region %q: endpoint: %w", r.Name, err)
		}
		h := &homeRegion{name: r.Name, endpoint: r.Endpoint, prefix: strings.TrimSuffix(u.EscapedPath(), "/"), host: u.Host,
			maxBody: int64(c.Limits.MaxUpstreamBodyBytes)}
		out[r.Name] = h
		if c.MisdirectedMode() != residency.Forward {
			continue
		}
		addr := u.Host
		if u.Port() == "" {
			port := "443"
			if u.Scheme == "http" {
				port = "80"
			}
			addr = net.JoinHostPort(u.Hostname(), port)
		}
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
		if r.CAFile != "" {
			pem, err := os.ReadFile(r.CAFile)
			if err != nil {
				return nil, fmt.Errorf("region %q: ca_file: %w", r.Name, err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("region %q: ca_file: no PEM certificate", r.Name)
			}
		}
		h.client = &fasthttp.HostClient{
			Addr:      addr,
			Name:      "Ferry/" + Version,
			IsTLS:     u.Scheme == "https",
			TLSConfig: tc,
			// The answer streams through to the client as it arrives,
			// bounded by relayBody; the request's deadline covers reading it.
			StreamResponseBody:     true,
			MaxResponseBodySize:    c.Limits.MaxUpstreamBodyBytes,
			MaxConns:               512,
			MaxIdleConnDuration:    30 * time.Second,
			DisablePathNormalizing: true,
			// A relayed request is sent once: the home node may have acted
			// on it, and the client can retry.
			MaxIdemponentCallAttempts: 1,
			NoDefaultUserAgentHeader:  true,
		}
	}
	return out, nil
}

// hopByHop are the headers of one connection, never relayed (RFC 9110
// §7.6.1), with Host, which the relay sets to the home endpoint's.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "proxy-authenticate": true,
	"proxy-authorization": true, "te": true, "trailer": true, "transfer-encoding": true, "upgrade": true,
	"host": true, "content-length": true, "expect": true,
}

// checkResidency is the residency stage: a request for a tenant whose home
// region is not this node's is never served here. It comes right after the
// connection is resolved and before anything reads the tenant's secrets,
// admits its audit event or calls its source: this node holds none of
// them (Server.New built nothing for a tenant it does not serve).
func (s *Server) checkResidency(x *exchange) *verdict.Problem {
	if x.client == nil {
		return nil
	}
	t := x.tab.tenants[x.client.tenant]
	if t == nil {
		return verdict.Fail(unified.CodeInternal, "")
	}
	forwarded := len(x.rc.Request.Header.Peek(residency.HeaderForwardedFrom)) > 0
	switch residency.Decide(s.cfg.Node.Region, t.home, x.tab.mode, forwarded) {
	case residency.Serve:
		return nil
	case residency.Relay:
		if h := x.tab.regions[t.home]; h != nil && h.client != nil {
			return s.forward(x, h)
		}
	}
	x.place = misdirected
	s.metrics.misdirected.WithLabelValues(t.home, "redirect").Inc()
	if h := x.tab.regions[t.home]; h != nil {
		x.rc.Response.Header.Set(residency.HeaderHomeRegion, h.name)
		x.rc.Response.Header.Set(residency.HeaderHomeEndpoint, h.endpoint)
		return verdict.Fail(unified.CodeMisdirectedRequest, "served in region "+h.name+" at "+h.endpoint)
	}
	return verdict.Fail(unified.CodeMisdirectedRequest, "")
}

// forward relays the request to the tenant's home region and its answer
// back: the client's method, path, query, body and headers (its
// Authorization too: the home node authenticates the client itself), less
// hop-by-hop headers, plus the loop guard and this request's id, so both
// regions' audit events carry the same request_id. Nothing touches a disk:
// the request body is in memory (bounded by max_request_body_bytes), and
// the answer streams through to the client, cut off past
// max_upstream_body_bytes. Redirects are relayed, not followed.
func (s *Server) forward(x *exchange, h *homeRegion) *verdict.Problem {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	// resp outlives this function when its body streams: relayBody
	// releases it once fasthttp has written the answer out.
	resp := fasthttp.AcquireResponse()

	in := &x.rc.Request
	req.Header.SetMethodBytes(in.Header.Method())
	// The path as the client sent it (not normalised: the home node does
	// its own checks) and the query, whatever form the request line had.
	target := h.prefix + string(x.rc.URI().PathOriginal())
	if q := x.rc.URI().QueryString(); len(q) > 0 {
		target += "?" + string(q)
	}
	req.SetRequestURI(target)
	if h.client.IsTLS {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	req.URI().SetHost(h.host)
	req.Header.SetHost(h.host)
	drop := connectionTokens(in.Header.Peek("Connection"))
	for k, v := range in.Header.All() {
		name := strings.ToLower(string(k))
		if hopByHop[name] || drop[name] || name == strings.ToLower(residency.HeaderForwardedFrom) || name == "x-request-id" {
			continue
		}
		req.Header.AddBytesKV(k, v)
	}
	req.Header.Set(residency.HeaderForwardedFrom, s.cfg.Node.Region)
	req.Header.Set("X-Request-Id", x.requestID)
	// The home node's spans join this request's trace, under residency's.
	tracing.Inject(x.traceCtx, &req.Header)
	if b := in.Body(); len(b) > 0 {
		req.SetBody(b)
	}

	// The home node applies the connection's deadline (or the client's
	// X-Ferry-Timeout, within max_timeout); the relay waits that long and
	// a margin, never more.
	timeout := config.DefaultConnectionTimeout
	if x.conn != nil {
		timeout = max(x.conn.cfg.Timeout.D(), x.conn.cfg.Limits.MaxTimeout.D())
	}
	start := s.clock.Now()
	err := h.client.DoDeadline(req, resp, start.Add(timeout+forwardMargin))
	x.up.AddWait(s.clock.Now().Sub(start))
	if err != nil {
		// The error may name the home endpoint, never request data; the
		// client needs only the code.
		s.log.Warn("forward to home region failed", "request_id", x.requestID, "region", h.name, "error", forwardErr(err))
		fasthttp.ReleaseResponse(resp)
		x.place = relayFailed
		s.metrics.misdirected.WithLabelValues(h.name, "forward_failed").Inc()
		return &verdict.Problem{Code: unified.CodeRegionUnavailable}
	}
	x.place, x.answered = relayed, true
	s.metrics.misdirected.WithLabelValues(h.name, "forward").Inc()
	drop = connectionTokens(resp.Header.Peek("Connection"))
	out := &x.rc.Response
	for k, v := range resp.Header.All() {
		name := strings.ToLower(string(k))
		if hopByHop[name] || drop[name] || name == "server" || name == "date" {
			continue
		}
		out.Header.SetBytesKV(k, v)
	}
	out.Header.Set(residency.HeaderServedBy, h.name)
	out.SetStatusCode(resp.StatusCode())
	bs := resp.BodyStream()
	if bs == nil {
		out.SetBody(resp.Body())
		fasthttp.ReleaseResponse(resp)
		return nil
	}
	size := resp.Header.ContentLength()
	if size < 0 {
		size = -1 // until EOF, chunked to the client
	}
	out.SetBodyStream(&relayBody{resp: resp, r: bs, left: h.maxBody}, size)
	return nil
}

// errRelayTooLarge cuts off an answer from the home region longer than
// max_upstream_body_bytes; the client sees a truncated response.
var errRelayTooLarge = errors.New("relayed answer exceeds max_upstream_body_bytes")

// relayBody is the home region's answer on its way to the client: at most
// left more bytes, and the pooled response released when fasthttp closes
// it (after writing the answer, or when the connection goes away).
type relayBody struct {
	resp *fasthttp.Response
	r    io.Reader
	left int64
}

func (b *relayBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		n, err = int(b.left), errRelayTooLarge
	}
	b.left -= int64(n)
	return n, err
}

func (b *relayBody) Close() error {
	if b.resp == nil {
		return nil
	}
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	b.resp = nil
	return err
}

// connectionTokens are the header names a Connection header lists, which
// are hop-by-hop too.
func connectionTokens(v []byte) map[string]bool {
	if len(v) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, t := range strings.Split(string(v), ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			m[t] = true
		}
	}
	return m
}

// forwardErr names a relay failure for the log without its text, which may
// quote what the peer sent.
func forwardErr(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return "answer too large"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection closed"
	}
	var te *tls.CertificateVerificationError
	if errors.As(err, &te) {
		return "tls verification failed"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "connect failed: " + oe.Op
	}
	return "failed"
}
