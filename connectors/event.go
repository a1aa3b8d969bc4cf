package connectors

import (
	"context"
	"encoding/json"

	"google.golang.org/protobuf/encoding/protowire"
)

// OperationMapEvent is the data-plane operation of an EventMapper, as the
// plugin's Hello lists it.
const OperationMapEvent = "map_event"

// EventMapper is implemented by connectors that turn messages a source
// pushes to Ferry (an HL7 v2 feed) into unified events. It is optional: the
// SDK announces the operation only for a connector that implements it, and
// the host sends such messages to no other.
type EventMapper interface {
	// MapEvent maps one inbound message to zero or more events, in the
	// order they happened. It is pure mapping: it must not call the
	// source (the request has no Transport). A message the connector
	// cannot read is CodeInvalidArgument; a kind of message it does not
	// map gives no events.
	MapEvent(ctx context.Context, req *MapEventRequest) (*MapEventResponse, error)
}

// MapEventRequest is one inbound message of a connection.
type MapEventRequest struct {
	ConnectionID string
	// Message is the message as received, unframed (HL7 v2: segments
	// separated by carriage returns). It is valid during the call only.
	Message []byte
}

// MapEventResponse holds the events of one message, each a unified.Event
// as JSON, in order. The connector leaves Event.ID empty: the host derives
// it from the source's message id.
type MapEventResponse struct {
	Events []json.RawMessage

	frame *frameBuf // the data-plane frame Events are slices of, or nil
}

// Release is ReadResponse.Release for a message's events.
func (r *MapEventResponse) Release() {
	if r != nil {
		r.frame.release()
		r.frame = nil
	}
}

// MaxEventsPerMessage bounds the events of one message: they travel in one
// Result, whose records are capped. A message with more (an ORU^R01 with
// about 200 results) fails as internal: the feed answers AE and its sender
// keeps it, rather than AR, which would have it dropped.
const MaxEventsPerMessage = maxRecords

// The MapEventRequest fields, from proto/connector.proto.
const (
	fCallMapEvent                   = 10
	fMapEventConn, fMapEventMessage = 1, 2
)

func sizeMapEvent(r *MapEventRequest) int {
	return sizeString(fMapEventConn, len(r.ConnectionID)) + sizeString(fMapEventMessage, len(r.Message))
}

// encodeMapEventCall writes a Call frame whose operation is map_event.
func encodeMapEventCall(id uint64, deadline int64, r *MapEventRequest) *frameBuf {
	op := sizeMapEvent(r)
	fb := newFrame(sizeVarint(fCallID, id) + sizeVarint(fCallDeadline, uint64(max(deadline, 0))) + sizeMessage(fCallMapEvent, op))
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fCallID, id)
	b = putVarint(b, fCallDeadline, uint64(max(deadline, 0)))
	b = putMessageHeader(b, fCallMapEvent, op)
	b = putString(b, fMapEventConn, r.ConnectionID)
	b = putBytes(b, fMapEventMessage, r.Message)
	fb.b = b
	return fb
}

// decodeMapEvent reads a MapEventRequest; Message aliases data.
func decodeMapEvent(data []byte) (*MapEventRequest, error) {
	r := &MapEventRequest{}
	err := eachField(data, func(num protowire.Number, _ uint64, data []byte) error {
		switch num {
		case fMapEventConn:
			r.ConnectionID = connectionIDs.intern(data)
		case fMapEventMessage:
			r.Message = data
		}
		return nil
	})
	return r, err
}

// MapEvent sends one message to be mapped to events. The plugin must have
// announced the operation; otherwise the call fails with CodeUnsupported
// without reaching it. The events are valid until the response is released.
func (h *HostConn) MapEvent(ctx context.Context, req *MapEventRequest) (*MapEventResponse, CallInfo, error) {
	if !h.serves(OperationMapEvent) {
		return nil, CallInfo{}, &Error{Code: CodeUnsupported, Param: "operation"}
	}
	d, info, err := h.callFrame(ctx, nil, false, func(id uint64, deadline int64) *frameBuf {
		return encodeMapEventCall(id, deadline, req)
	})
	if err != nil {
		return nil, info, err
	}
	return &MapEventResponse{Events: d.msg.records, frame: d.fb}, info, nil
}

// serves reports whether the plugin's Hello announced op.
func (h *HostConn) serves(op string) bool {
	select {
	case <-h.helloReady:
		for _, o := range h.hello.operations {
			if o == op {
				return true
			}
		}
	default:
	}
	return false
}

// operationsOf are the Call operations the SDK serves for impl: reads,
// writes for a Writer, map_event for an EventMapper.
func operationsOf(impl Connector) []string {
	ops := operations
	if _, ok := impl.(Writer); ok {
		ops = writeOperations
	}
	if _, ok := impl.(EventMapper); ok {
		return append(ops[:len(ops):len(ops)], OperationMapEvent)
	}
	return ops
}

// mapEvent runs a map_event call in the plugin.
func (pe *pluginEnd) mapEvent(ctx context.Context, req *MapEventRequest) ([]json.RawMessage, error) {
	m, ok := pe.impl.(EventMapper)
	if !ok {
		return nil, &Error{Code: CodeUnsupported, Param: "operation"}
	}
	resp, err := m.MapEvent(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.Events) > MaxEventsPerMessage {
		// Not invalid_argument: the message is good, Ferry cannot carry it.
		// Internal keeps it at the sender (AE) instead of rejecting it.
		return nil, Errorf(CodeInternal, "a message gave %d events, over the limit of %d", len(resp.Events), MaxEventsPerMessage)
	}
	return resp.Events, nil
}
