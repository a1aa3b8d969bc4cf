package proxy

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/guard"
	"github.com/ferryhealth/ferry/proxy/identity"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/proxy/verdict"
	"github.com/ferryhealth/ferry/unified"
)

// exchange is one API request on its way through the pipeline. Each field
// is written by the stage named beside it, and read by the later ones.
type exchange struct {
	// tab is the configuration the request is served under, from its
	// start to its end, whatever reloads happen meanwhile.
	tab       *tables
	rc        *fasthttp.RequestCtx
	start     time.Time
	requestID string       // request_id
	route     route        // route
	client    *clientEntry // authenticate
	// token is the access token the client presented (nil: an API key);
	// challenge is the Bearer challenge a 401 carries.
	token     *identity.Token // authenticate
	challenge string          // authenticate
	conn      *connEntry      // resolve_connection
	place     placement       // residency
	// answered: a stage wrote the whole answer (the OpenAPI document, a
	// relay from the home region); the later stages are skipped.
	answered bool
	authz    authzState // authorize, restrict_query
	q        query      // parse_query
	w        write      // parse_body (writes.go)
	// deadline is when the request must be answered by: its connection's
	// timeout, or the client's X-Ferry-Timeout within max_timeout, from
	// its arrival. shortened says the client asked for less than the
	// connection's timeout (a timeout then does not count against the
	// source).
	deadline  time.Time // deadline
	shortened bool
	// ticket is the request's hold on its connection (a bulkhead slot, a
	// breaker outcome owed), settled when the pipeline ends.
	ticket guard.Ticket // admit_connection
	// transport is the source's transport lent for the request (dispatch,
	// passthrough); up is what it recorded of the source, and the time a
	// relay to the home region waited (residency).
	transport source.Transport
	up        source.Record
	// What the request came to, for metrics and the audit event.
	records int
	status  int
	code    unified.Code
	// span is the request's trace span and traceCtx the context of the
	// stage running (trace.go); nil span: a request fasthttp refused.
	span     trace.Span
	traceCtx context.Context
}

// placement is what the residency stage did with the request.
type placement uint8

const (
	servedHere placement = iota
	// misdirected: refused with 421, the home region named.
	misdirected
	// relayed: the home region's answer was relayed whole; the rest of the
	// pipeline is skipped.
	relayed
	// relayFailed: the relay to the home region failed (503).
	relayFailed
)

func (s *Server) serveAPI(rc *fasthttp.RequestCtx) {
	x := &exchange{tab: s.tab.Load(), rc: rc, start: s.clock.Now(), route: route{template: routeUnknown}}
	x.tab.inflight.Add(1)
	defer x.tab.inflight.Add(-1)
	s.startTrace(x)
	var p *verdict.Problem
	func() {
		defer func() {
			if r := recover(); r != nil {
				// The panic value may hold request data: log only that it
				// happened and where.
				s.log.Error("panic serving request", "request_id", x.requestID, "route", x.route.template)
				p = verdict.Fail(unified.CodeInternal, "")
			}
		}()
		for _, st := range pipeline {
			if p = s.runStage(st, x); p != nil || x.answered {
				return
			}
		}
	}()
	s.settleConnection(x, p)
	if p != nil {
		if x.requestID == "" {
			x.requestID = newRequestID()
		}
		p.Write(rc, x.requestID)
		x.writeChallenge(p)
		x.code = p.Code
	}
	x.status = rc.Response.StatusCode()
	s.finish(x)
}

// finish stamps timing headers, records metrics and emits the audit event.
func (s *Server) finish(x *exchange) {
	total := s.clock.Now().Sub(x.start)
	up := x.up.Waited()
	own := max(total-up, 0)
	h := &x.rc.Response.Header
	h.Set("X-Request-Id", x.requestID)
	h.Set("Server-Timing", "proxy;dur="+ms(own)+", upstream;dur="+ms(up))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if s.draining.Load() {
		// The node is leaving: a keep-alive client reconnects, and the
		// load balancer sends it elsewhere.
		x.rc.SetConnectionClose()
	}
	if up := x.up.Snapshot(); up.Calls > 0 {
		setIf(h, "X-Source-RateLimit-Limit", up.Limit)
		setIf(h, "X-Source-RateLimit-Remaining", up.Remaining)
		setIf(h, "X-Source-RateLimit-Reset", up.Reset)
	}

	conn := ""
	if x.conn != nil {
		conn = x.conn.cfg.ID
	}
	s.metrics.observe(x.route.template, conn, x.status, x.code, total, up)

	ev := &auditlog.Event{
		RequestID:             x.requestID,
		SourceIP:              s.proxies.clientAddr(x.rc).String(),
		PurposeOfUse:          x.purpose(),
		Action:                x.action(),
		ResourceType:          string(x.route.resource),
		Route:                 x.route.template,
		Region:                s.cfg.Node.Region,
		Status:                x.status,
		ErrorCode:             string(x.code),
		RecordCount:           x.records,
		LatencyProxyMicros:    own.Microseconds(),
		LatencyUpstreamMicros: up.Microseconds(),
		ConfigHash:            x.tab.hash,
		TraceID:               s.endTrace(x),
	}
	if !x.route.resource.Known() {
		ev.ResourceType = ""
	}
	if x.client != nil {
		ev.Tenant, ev.Actor = x.client.tenant, x.client.id
	}
	if x.conn != nil {
		ev.Connection, ev.Connector = x.conn.cfg.ID, x.conn.kind
		if x.route.resource == unified.Patients && x.route.id != "" && validSourceID(x.route.id) {
			if t := x.tab.tenants[x.conn.cfg.Tenant]; t != nil && t.served {
				if refs := t.refs.Load(); refs != nil {
					ev.PatientRef = refs.Ref(t.id, x.conn.cfg.ID, x.route.id)
				}
			}
		}
		s.auditWrite(x, ev)
	}
	s.auditIdentity(x, ev)
	s.audit.Emit(s.baseCtx, ev)
}

func (x *exchange) action() string {
	switch {
	case x.route.template == routeOpenAPI:
		return auditlog.ActionMetadata
	case x.client == nil || x.conn == nil || x.place == misdirected:
		return auditlog.ActionRefused
	case x.place == relayed || x.place == relayFailed:
		return auditlog.ActionForward
	case x.route.template == routeRead:
		return auditlog.ActionRead
	case x.route.template == routeSearch:
		return auditlog.ActionSearch
	case x.route.template == routeChanges:
		return auditlog.ActionChanges
	case x.route.template == routeCapabilities:
		return auditlog.ActionCapabilities
	case x.route.template == routePassthrough:
		return auditlog.ActionPassthrough
	case x.route.template == routeCreate:
		return auditlog.ActionCreate
	case x.route.template == routeUpdate:
		return auditlog.ActionUpdate
	}
	return auditlog.ActionRefused
}

// purpose is the purpose of use the audit event records: what
// authorization read, else the header of a request refused before it.
func (x *exchange) purpose() string {
	if x.authz.purpose != "" {
		return x.authz.purpose
	}
	return purposeOfUse(x.rc)
}

// purposeOfUse reads the client's declared purpose. Only a code of HL7's
// PurposeOfUse value set (v3 ActReason, the codes HIPAA and TEFCA
// exchanges use) is kept: the header is free text a client could misuse,
// and the audit trail must hold nothing but its closed vocabulary.
func purposeOfUse(rc *fasthttp.RequestCtx) string {
	v := rc.Request.Header.Peek("X-Purpose-Of-Use")
	if len(v) == 0 || len(v) > 16 {
		return ""
	}
	c, _ := config.PurposeOfUseCode(v)
	return c
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// serveParseError answers requests fasthttp could not parse (oversized
// body, malformed headers, too slow) with a problem, and audits them as
// refused. A connection that timed out without sending a byte carried no
// request: it gets a bare 408, which clients read as "idle connection
// closed" (Go's does), and no audit event.
func (s *Server) serveParseError(rc *fasthttp.RequestCtx, err error) {
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	if timeout && sentNothing(rc.Conn()) {
		rc.SetStatusCode(fasthttp.StatusRequestTimeout)
		return
	}
	x := &exchange{tab: s.tab.Load(), rc: rc, start: s.clock.Now(), requestID: newRequestID(), route: route{template: routeUnknown}}
	code := unified.CodeBadRequest
	// fasthttp closes the connection after this answer; unread request
	// bytes would turn that close into a reset that loses the answer.
	lingerOnClose(rc.Conn())
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code = unified.CodeRequestTooLarge
	case timeout:
		code = unified.CodeRequestTimeout
	}
	verdict.Fail(code, "").Write(rc, x.requestID)
	x.status, x.code = rc.Response.StatusCode(), code
	s.finish(x)
}
