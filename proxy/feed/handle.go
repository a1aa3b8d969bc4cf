package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/webhook"
	"github.com/ferryhealth/ferry/unified"
)

// The error codes of feed audit events (auditlog.Event.ErrorCode).
const (
	CodeInvalidMessage       = "invalid_message"
	CodeUnknownSender        = "unknown_sender"
	CodeAuditUnavailable     = auditlog.ErrorCodeAuditUnavailable
	CodeConnectorUnavailable = "connector_unavailable"
	CodeDeliveryFailed       = "delivery_failed"
)

// The fixed reasons of AE and AR answers (MSA-3): never message content.
const (
	reasonInvalid     = "message not accepted"
	reasonSender      = "unknown sender"
	reasonUnavailable = "not delivered, resend later"
)

// RouteFeed is the audit route of a received message.
const RouteFeed = "mllp:feed"

func (f *Feed) receiveEvent(peer net.Addr) auditlog.Event {
	cn := &f.o.Connection
	ev := auditlog.Event{Action: auditlog.ActionEventReceive, Tenant: cn.Tenant, Route: RouteFeed, Connection: cn.ID,
		Connector: cn.Connector, Region: f.o.Region, ConfigHash: f.o.ConfigHash}
	if ap, err := netip.ParseAddrPort(peer.String()); err == nil {
		ev.SourceIP = ap.Addr().Unmap().String()
	}
	return ev
}

// handle processes one message and returns the ACK to answer, or keep
// false to close the connection without one.
func (f *Feed) handle(peer net.Addr, msg []byte) (ack []byte, keep bool) {
	start := time.Now()
	ev := f.receiveEvent(peer)
	defer func() {
		ev.LatencyProxyMicros = time.Since(start).Microseconds()
		f.o.Audit.Emit(context.Background(), &ev)
	}()
	h, err := ParseHeader(msg)
	if err != nil {
		ev.Status, ev.ErrorCode = 400, CodeInvalidMessage
		return f.answer(&h, AckReject, reasonInvalid), true
	}
	ev.RequestID = f.ids.derive(ev.Tenant, ev.Connection, &h, -1)
	cfg := f.cfg
	if h.SendingApplication() != cfg.SendingApplication || h.SendingFacility() != cfg.SendingFacility {
		ev.Status, ev.ErrorCode = 403, CodeUnknownSender
		return f.answer(&h, AckReject, reasonSender), true
	}
	fail := func(status int, code string) ([]byte, bool) {
		ev.Status, ev.ErrorCode = status, code
		if cfg.OnFailure == config.FeedOnFailureClose {
			return nil, false
		}
		return f.answer(&h, AckError, reasonUnavailable), true
	}
	if f.o.Audit.Admit(ev.Tenant) != nil {
		return fail(503, CodeAuditUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.AckBudget.D())
	defer cancel()
	events, err := f.mapEvents(ctx, &h, msg)
	if err != nil {
		if connectors.CodeOf(err) == connectors.CodeInvalidArgument {
			ev.Status, ev.ErrorCode = 422, CodeInvalidMessage
			return f.answer(&h, AckReject, reasonInvalid), true
		}
		return fail(503, CodeConnectorUnavailable)
	}
	ev.RecordCount = len(events)
	for i := range events {
		if events[i].PatientID != "" {
			ev.PatientRef = f.refs.Ref(ev.Tenant, ev.Connection, events[i].PatientID)
			break
		}
	}
	for i := range events {
		if !f.deliver(ctx, &events[i], peer) {
			return fail(503, CodeDeliveryFailed)
		}
	}
	ev.Status = 200
	return f.answer(&h, AckAccept, ""), true
}

func (f *Feed) answer(h *Header, code, reason string) []byte {
	switch code {
	case AckAccept:
		f.Stats.Accepted.Add(1)
	case AckError:
		f.Stats.Errored.Add(1)
	default:
		f.Stats.Rejected.Add(1)
	}
	return AppendAck(nil, h, code, reason, ackControlID(f.ackPfx, f.ackSeq.Add(1)), time.Now())
}

// maxEventRecords bounds the references one event may carry.
const maxEventRecords = 16

// mapEvents has the connector map msg and checks what it answered: each
// event a unified.Event (strictly: no unknown field), of a known type, of
// this connection. Each gets its stable id.
func (f *Feed) mapEvents(ctx context.Context, h *Header, msg []byte) ([]unified.Event, error) {
	resp, err := f.o.Mapper.MapEvent(ctx, &connectors.MapEventRequest{ConnectionID: f.o.Connection.ID, Message: msg})
	if err != nil {
		return nil, err
	}
	defer resp.Release()
	out := make([]unified.Event, len(resp.Events))
	for i, raw := range resp.Events {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		e := &out[i]
		if err := d.Decode(e); err != nil || !e.Type.Known() || e.ConnectionID != f.o.Connection.ID || len(e.Records) > maxEventRecords {
			return nil, &connectors.Error{Code: connectors.CodeInternal}
		}
		e.ID = f.ids.derive(f.o.Connection.Tenant, f.o.Connection.ID, h, i)
	}
	return out, nil
}

// deliver sends one event to every subscription that takes it, at once,
// and reports whether all accepted it. Each attempt is audited.
func (f *Feed) deliver(ctx context.Context, e *unified.Event, peer net.Addr) bool {
	eps := f.o.Webhooks.Matching(f.o.Connection.Tenant, f.o.Connection.ID, e.Type)
	if len(eps) == 0 {
		return true
	}
	var ids, full []byte
	body := func(ep *webhook.Endpoint) []byte {
		if ep.Sub.Full {
			if full == nil {
				full, _ = json.Marshal(e)
			}
			return full
		}
		if ids == nil {
			data := e.Data
			e.Data = nil
			ids, _ = json.Marshal(e)
			e.Data = data
		}
		return ids
	}
	bodies := make([][]byte, len(eps))
	for i, ep := range eps {
		bodies[i] = body(ep)
	}
	results := make([]webhook.Result, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = ep.Deliver(ctx, e.ID, bodies[i])
		}()
	}
	wg.Wait()
	ok := true
	for i, ep := range eps {
		r := results[i]
		ev := f.receiveEvent(peer)
		ev.Action, ev.RequestID, ev.Actor = auditlog.ActionEventDeliver, e.ID, ep.Sub.Client
		ev.Route, ev.ResourceType, ev.Status = "webhook:"+ep.Sub.ID, string(e.Type), r.Status
		ev.LatencyUpstreamMicros = max(r.Latency.Microseconds(), 1)
		if e.PatientID != "" {
			ev.PatientRef = f.refs.Ref(ev.Tenant, ev.Connection, e.PatientID)
		}
		if r.OK() {
			ev.RecordCount = 1
		} else {
			ev.ErrorCode, ok = r.Outcome, false
		}
		f.o.Audit.Emit(ctx, &ev)
	}
	return ok
}
