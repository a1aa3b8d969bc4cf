package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors"
)

// DefaultBaseURL addresses an in-memory upstream. The .invalid top-level
// domain never resolves, so nothing can reach a real host by accident.
const DefaultBaseURL = "http://source.invalid/"

// DefaultMaxBodyBytes is the host's default cap on a source answer
// (max_upstream_body_bytes).
const DefaultMaxBodyBytes = 16 << 20

// DefaultTimeout is the deadline a request gets when its context has none,
// as the host applies the connection's timeout.
const DefaultTimeout = 10 * time.Second

// TransportOptions configure a Transport. Zero values take the defaults.
type TransportOptions struct {
	// BaseURL is the connection's base URL; the connector's relative paths
	// are appended to it. Default DefaultBaseURL for an in-memory upstream;
	// required for a live one.
	BaseURL string
	// MaxBodyBytes caps a source answer; a longer one fails with
	// CodeUpstream, as in the host. Default DefaultMaxBodyBytes.
	MaxBodyBytes int
	// Client sends live requests. Default: a client with DefaultTimeout
	// that follows no redirects (the host follows none).
	Client *http.Client
}

// Exchange is one request the connector made through the Transport and what
// came back.
type Exchange struct {
	Request connectors.HTTPRequest
	// URL is the request's full URL (base URL, path and query).
	URL string
	// Response is nil when the exchange failed; Err then holds the
	// *connectors.Error the connector got.
	Response *connectors.HTTPResponse
	Err      error
}

// Transport is a connectors.Transport for tests, with the host transport's
// rules. It is safe for concurrent use.
type Transport struct {
	handler http.Handler // in memory; nil for a live upstream
	client  *http.Client
	base    string // ends with "/"
	maxBody int

	mu         sync.Mutex
	exchanges  []Exchange
	violations []string
	observers  []func(Exchange)
}

var _ connectors.Transport = (*Transport)(nil)

// NewTransport returns a Transport that serves every request with upstream,
// in memory: no socket is opened.
func NewTransport(upstream http.Handler, opts TransportOptions) (*Transport, error) {
	if upstream == nil {
		return nil, errors.New("sdktest: nil upstream handler")
	}
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	t, err := newTransport(opts)
	if err != nil {
		return nil, err
	}
	t.handler = upstream
	return t, nil
}

// NewLiveTransport returns a Transport that sends requests to a real source
// at opts.BaseURL (a sandbox, or a server the test started). The test
// process is the host here, so it may use the network; the connector still
// may not.
func NewLiveTransport(opts TransportOptions) (*Transport, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("sdktest: a live transport needs a base URL")
	}
	t, err := newTransport(opts)
	if err != nil {
		return nil, err
	}
	t.client = opts.Client
	if t.client == nil {
		t.client = &http.Client{
			Timeout:       DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return t, nil
}

func newTransport(opts TransportOptions) (*Transport, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("sdktest: base URL %q: want http(s)://host[/path], without query or fragment", opts.BaseURL)
	}
	base := u.String()
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Transport{base: base, maxBody: opts.MaxBodyBytes}, nil
}

// Exchanges returns what the connector asked for so far, in order.
func (t *Transport) Exchanges() []Exchange {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Exchange(nil), t.exchanges...)
}

// Violations returns the host rules the connector broke so far: each is a
// request the product's host would refuse or alter.
func (t *Transport) Violations() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.violations...)
}

// Observe calls f after every exchange (a recorder uses it).
func (t *Transport) Observe(f func(Exchange)) {
	t.mu.Lock()
	t.observers = append(t.observers, f)
	t.mu.Unlock()
}

func (t *Transport) violation(format string, args ...any) {
	t.mu.Lock()
	t.violations = append(t.violations, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Do performs one exchange under the host's rules.
func (t *Transport) Do(ctx context.Context, req *connectors.HTTPRequest) (resp *connectors.HTTPResponse, err error) {
	ex := Exchange{Request: cloneRequest(req)}
	defer func() {
		ex.Response, ex.Err = resp, err
		t.mu.Lock()
		t.exchanges = append(t.exchanges, ex)
		obs := slices.Clone(t.observers)
		t.mu.Unlock()
		for _, f := range obs {
			f(ex)
		}
	}()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !connectors.ReadMethod(method) {
		t.violation("method %s: the host allows only GET and HEAD while serving a read or a search", method)
		return nil, connectors.Errorf(connectors.CodeInternal, "method %s refused on a read", method)
	}
	if !connectors.ValidRelativePath(req.Path) {
		t.violation("path %q: the host takes only a path relative to the base URL (no scheme, host, leading slash, dot segment, query or fragment)", req.Path)
		return nil, connectors.Errorf(connectors.CodeInternal, "path refused by the egress policy")
	}
	for _, h := range req.Header {
		if !connectors.RequestHeaderAllowed(h.Name) {
			t.violation("header %s: the host drops it (allowed: see connectors.RequestHeaderAllowed)", h.Name)
		}
	}
	ex.URL = t.base + req.Path
	if q := encodeQuery(req.Query); q != "" {
		ex.URL += "?" + q
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	hreq, err := http.NewRequestWithContext(ctx, method, ex.URL, bytes.NewReader(req.Body))
	if err != nil {
		t.violation("request for %q cannot be built: %v", req.Path, err)
		return nil, connectors.Errorf(connectors.CodeInternal, "request refused")
	}
	for _, h := range req.Header {
		if connectors.RequestHeaderAllowed(h.Name) {
			hreq.Header.Set(h.Name, h.Value)
		}
	}
	if t.handler != nil {
		return t.serveInMemory(ctx, hreq)
	}
	return t.serveLive(ctx, hreq)
}

func (t *Transport) serveInMemory(ctx context.Context, hreq *http.Request) (*connectors.HTTPResponse, error) {
	rec := httptest.NewRecorder()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		t.handler.ServeHTTP(rec, hreq)
	}()
	select {
	case p := <-done:
		if p != nil {
			panic(fmt.Sprintf("sdktest: the upstream handler panicked: %v", p))
		}
	case <-ctx.Done():
		// The handler may go on running; its recorder is never read.
		return nil, &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: ctx.Err()}
	}
	res := rec.Result()
	defer res.Body.Close()
	return t.response(ctx, res)
}

func (t *Transport) serveLive(ctx context.Context, hreq *http.Request) (*connectors.HTTPResponse, error) {
	res, err := t.client.Do(hreq)
	if err != nil {
		var ne interface{ Timeout() bool }
		if ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
			return nil, &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: err}
		}
		return nil, &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: err}
	}
	defer res.Body.Close()
	return t.response(ctx, res)
}

// response reads the answer under the cap and keeps the allowed headers.
func (t *Transport) response(ctx context.Context, res *http.Response) (*connectors.HTTPResponse, error) {
	body, err := io.ReadAll(io.LimitReader(res.Body, int64(t.maxBody)+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: err}
		}
		return nil, &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: err}
	}
	if len(body) > t.maxBody {
		return nil, connectors.Errorf(connectors.CodeUpstream, "source answer over %d bytes", t.maxBody)
	}
	out := &connectors.HTTPResponse{Status: res.StatusCode, Body: body}
	for _, name := range slices.Sorted(maps.Keys(res.Header)) {
		if connectors.ResponseHeaderAllowed(name) {
			for _, v := range res.Header[name] {
				out.Header = append(out.Header, connectors.Param{Name: name, Value: v})
			}
		}
	}
	return out, nil
}

// encodeQuery keeps the connector's order and repeated names.
func encodeQuery(q []connectors.Param) string {
	var b strings.Builder
	for i, p := range q {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.Name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.Value))
	}
	return b.String()
}

func cloneRequest(r *connectors.HTTPRequest) connectors.HTTPRequest {
	c := *r
	c.Query = append([]connectors.Param(nil), r.Query...)
	c.Header = append([]connectors.Param(nil), r.Header...)
	c.Body = append([]byte(nil), r.Body...)
	return c
}
