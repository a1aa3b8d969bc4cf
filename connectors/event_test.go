package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
)

func TestCodecMapEventCall(t *testing.T) {
	req := &MapEventRequest{ConnectionID: "acme-adt", Message: []byte("MSH|^~\\&|ADT1\rPID|1")}
	fb := encodeMapEventCall(5, 1_700_000_000_000_000_000, req)
	defer fb.release()
	n := sizeVarint(fCallID, 5) + sizeVarint(fCallDeadline, 1_700_000_000_000_000_000) + sizeMessage(fCallMapEvent, sizeMapEvent(req))
	var got pb.Call
	unmarshal(t, payload(t, fb, n), &got)
	want := &pb.Call{CallId: 5, Deadline: 1_700_000_000_000_000_000,
		Op: &pb.Call_MapEvent{MapEvent: &pb.MapEventRequest{ConnectionId: "acme-adt", Message: req.Message}}}
	if !proto.Equal(&got, want) {
		t.Fatalf("Call map_event:\n got %v\nwant %v", &got, want)
	}
	c, err := decodeCall(marshal(t, want))
	if err != nil || c.mapEvent == nil || c.read != nil || c.search != nil {
		t.Fatalf("decoded: %+v %v", c, err)
	}
	if c.mapEvent.ConnectionID != "acme-adt" || !bytes.Equal(c.mapEvent.Message, req.Message) {
		t.Fatalf("decoded map_event: %+v", c.mapEvent)
	}
}

// eventConn maps a message to one event per line, and panics on "panic".
type eventConn struct{ planeConn }

func (eventConn) MapEvent(_ context.Context, req *MapEventRequest) (*MapEventResponse, error) {
	var out []json.RawMessage
	for _, line := range strings.Split(string(req.Message), "\r") {
		switch line {
		case "panic":
			panic("a value that may hold PHI")
		case "bad":
			return nil, &Error{Code: CodeInvalidArgument}
		case "":
			continue
		}
		b, _ := json.Marshal(map[string]string{"type": line, "connection_id": req.ConnectionID})
		out = append(out, b)
	}
	return &MapEventResponse{Events: out}, nil
}

// planeOps starts both ends and returns the operations the plugin announced.
func planeOps(t *testing.T, impl Connector) (*HostConn, []string) {
	t.Helper()
	host, pf, err := DataPlanePair()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.FileConn(pf)
	pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ServeDataPlane(pc, impl) }()
	h := NewHostConn(host)
	t.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, ops, err := h.WaitHello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h, ops
}

func TestMapEventOverDataPlane(t *testing.T) {
	h, ops := planeOps(t, eventConn{})
	if strings.Join(ops, ",") != "read,search,map_event" {
		t.Fatalf("operations %v", ops)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, _, err := h.MapEvent(ctx, &MapEventRequest{ConnectionID: "c", Message: []byte("encounter.started\rpatient.updated")})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Events) != 2 || !strings.Contains(string(resp.Events[1]), `"patient.updated"`) {
		t.Fatalf("events %q", resp.Events)
	}
	resp.Release()

	// No events is an answer, not an error.
	resp, _, err = h.MapEvent(ctx, &MapEventRequest{ConnectionID: "c", Message: []byte("\r")})
	if err != nil || len(resp.Events) != 0 {
		t.Fatalf("no events: %v %v", resp, err)
	}
	resp.Release()

	if _, _, err := h.MapEvent(ctx, &MapEventRequest{ConnectionID: "c", Message: []byte("bad")}); CodeOf(err) != CodeInvalidArgument {
		t.Fatalf("bad message: %v", err)
	}
	// A panic fails that call only, and says so without its value.
	_, info, err := h.MapEvent(ctx, &MapEventRequest{ConnectionID: "c", Message: []byte("panic")})
	if !info.Panicked || CodeOf(err) != CodeInternal || strings.Contains(err.Error(), "PHI") {
		t.Fatalf("panic: %+v %v", info, err)
	}
	if resp, _, err := h.MapEvent(ctx, &MapEventRequest{ConnectionID: "c", Message: []byte("x")}); err != nil {
		t.Fatalf("after a panic: %v", err)
	} else {
		resp.Release()
	}
}

func TestMapEventNotAnnounced(t *testing.T) {
	h, ops := planeOps(t, planeConn{})
	if strings.Join(ops, ",") != "read,search" {
		t.Fatalf("operations %v", ops)
	}
	_, _, err := h.MapEvent(context.Background(), &MapEventRequest{ConnectionID: "c", Message: []byte("x")})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUnsupported {
		t.Fatalf("got %v", err)
	}
}

// manyEvents answers more events than a Result may carry.
type manyEvents struct{ planeConn }

func (manyEvents) MapEvent(context.Context, *MapEventRequest) (*MapEventResponse, error) {
	out := make([]json.RawMessage, MaxEventsPerMessage+1)
	for i := range out {
		out[i] = json.RawMessage(`{}`)
	}
	return &MapEventResponse{Events: out}, nil
}

func TestMapEventOverTheLimitIsNotARejection(t *testing.T) {
	h, _ := planeOps(t, manyEvents{})
	_, _, err := h.MapEvent(context.Background(), &MapEventRequest{ConnectionID: "c", Message: []byte("x")})
	if CodeOf(err) != CodeInternal {
		t.Fatalf("got %v, want internal (AE, the sender keeps the message)", err)
	}
}
