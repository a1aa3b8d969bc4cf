package proxy

import (
	"time"

	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// The stages between a request and its connection's source: its deadline,
// its admission by the connection's guard, and the settling of what the
// admission took, however the request ended.

// reachesSource reports whether serving the route calls the connection's
// source (through its plugin or directly), and so meets its limits.
func (r route) reachesSource() bool {
	return r.unified() || r.write() || r.template == routePassthrough
}

// The per-request deadline header. Its value is a Go duration ("2.5s",
// "800ms"); Ferry clamps it to the connection's max_timeout.
const timeoutHeader = "X-Ferry-Timeout"

// setDeadline fixes the request's deadline: the connection's timeout, or
// what the client asked for with X-Ferry-Timeout, at most the connection's
// max_timeout. It runs from the request's arrival, so time spent in earlier
// stages counts.
func (s *Server) setDeadline(x *exchange) *verdict.Problem {
	if !x.route.reachesSource() {
		return nil
	}
	d := x.conn.cfg.Timeout.D()
	if v := x.rc.Request.Header.Peek(timeoutHeader); len(v) > 0 {
		asked, err := time.ParseDuration(string(v))
		if err != nil || asked <= 0 || len(v) > 32 {
			return verdict.Fail(unified.CodeInvalidParameter, timeoutHeader)
		}
		if asked < d {
			x.shortened = true
		}
		d = min(asked, x.conn.maxTimeout)
	}
	x.deadline = x.start.Add(d)
	return nil
}

// admitConnection lets the request through its connection's guard: the
// source's Retry-After hold, the breaker and the bulkhead. What it takes,
// settleConnection gives back.
func (s *Server) admitConnection(x *exchange) *verdict.Problem {
	if !x.route.reachesSource() {
		return nil
	}
	t, rj := x.conn.guard.Admit(x.deadline)
	if rj != nil {
		return verdict.Refused(rj)
	}
	x.ticket = t
	return nil
}

// settleConnection reports the request's outcome to its connection once
// the pipeline is done with it, however it ended. A plugin found down (not
// running, or backing off from a crash loop) opens the breakers of every
// connection it serves.
func (s *Server) settleConnection(x *exchange, p *verdict.Problem) {
	if !x.ticket.Held() {
		return
	}
	o := guard.Outcome{Source: x.up.Snapshot().LastCall, Shortened: x.shortened}
	if p != nil {
		o.Code, o.Refused = p.Code, p.Cause == verdict.CauseGuard
	}
	x.ticket.Settle(o)
	if p != nil && p.Cause == verdict.CausePluginDown {
		for _, cn := range x.tab.byKind[x.conn.kind] {
			cn.guard.Trip()
		}
	}
}
