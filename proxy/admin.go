package proxy

import "github.com/valyala/fasthttp"

// serveAdmin answers the admin listener, which never serves the API:
// /healthz (the process is alive), /readyz (every plugin is up, so traffic
// may be routed here) and /metrics (Prometheus).
func (s *Server) serveAdmin(rc *fasthttp.RequestCtx) {
	switch string(rc.Path()) {
	case "/healthz":
		rc.SetContentType("text/plain")
		rc.SetBodyString("ok\n")
	case "/readyz":
		rc.SetContentType("text/plain")
		if s.conns.Ready() {
			rc.SetBodyString("ready\n")
			return
		}
		rc.SetStatusCode(fasthttp.StatusServiceUnavailable)
		rc.SetBodyString("plugins not ready\n")
	case "/metrics":
		s.serveMetrics(rc)
	default:
		rc.SetStatusCode(fasthttp.StatusNotFound)
	}
}
