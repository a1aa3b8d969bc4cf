package harness

import (
	"net"
	"runtime/metrics"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// hopHeaders are not forwarded by a proxy (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// FastProxy is the Go floor: the least a fasthttp reverse proxy does (keep-
// alive to the upstream, hop-by-hop headers dropped, the body buffered
// once), with none of Ferry's work. What Ferry costs above it is Ferry's
// own; what it costs above nginx, Go's and fasthttp's share included.
type FastProxy struct {
	srv   *fasthttp.Server
	stats *fasthttp.Server
	up    *fasthttp.HostClient
}

// ServeFastProxy proxies ln to upstream, and answers the process's
// allocation count on statsLn (GET → heap objects allocated so far).
func ServeFastProxy(ln, statsLn net.Listener, upstream string) *FastProxy {
	p := &FastProxy{up: &fasthttp.HostClient{
		Addr: upstream, MaxConns: 4096, MaxConnWaitTimeout: 30 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		MaxResponseBodySize: 64 << 20, DisablePathNormalizing: true, MaxIdemponentCallAttempts: 1,
	}}
	p.srv = &fasthttp.Server{Handler: p.serve, Name: "fastproxy", NoDefaultServerHeader: true, Concurrency: 1 << 20}
	p.stats = &fasthttp.Server{Handler: serveAllocs}
	go func() { _ = p.srv.Serve(ln) }()
	go func() { _ = p.stats.Serve(statsLn) }()
	return p
}

func (p *FastProxy) serve(rc *fasthttp.RequestCtx) {
	req := &rc.Request
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	if err := p.up.Do(req, &rc.Response); err != nil {
		rc.ResetBody()
		rc.SetStatusCode(fasthttp.StatusBadGateway)
		return
	}
	for _, h := range hopHeaders {
		rc.Response.Header.Del(h)
	}
}

// serveAllocs answers the count of heap objects this process allocated,
// from runtime/metrics: a reading taken before and after a load phase
// gives allocations per request without touching the request path.
func serveAllocs(rc *fasthttp.RequestCtx) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	rc.SetBodyString(strconv.FormatUint(s[0].Value.Uint64(), 10))
}
