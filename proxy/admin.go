package proxy

import "github.com/valyala/fasthttp"

// serveAdmin answers the admin listener, which never serves the API:
// /healthz (the process is alive), /readyz (every plugin is up and the
// node is not draining, so traffic may be routed here; then one line per
// plugin on its kernel sandbox) and /metrics (Prometheus). A degraded
// tenant does not make the node unready: the others are served.
func (s *Server) serveAdmin(rc *fasthttp.RequestCtx) {
	switch string(rc.Path()) {
	case "/healthz":
		rc.SetContentType("text/plain")
		rc.SetBodyString("ok\n")
	case "/readyz":
		rc.SetContentType("text/plain")
		body := []byte("ready\n")
		switch {
		case s.draining.Load():
			rc.SetStatusCode(fasthttp.StatusServiceUnavailable)
			body = []byte("draining\n")
		case !s.conns.Ready():
			rc.SetStatusCode(fasthttp.StatusServiceUnavailable)
			body = []byte("plugins not ready\n")
		}
		rc.SetBody(appendSandboxLines(body, s.sandboxes()))
	case "/metrics":
		s.serveMetrics(rc)
	default:
		rc.SetStatusCode(fasthttp.StatusNotFound)
	}
}
