//go:build unix

package connectors

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
	"github.com/ferryhealth/ferry/unified"
)

// writeConn is planeConn that also writes: a create whose idempotency id is
// "seen" is replayed, "reused" is refused as a reused key, "big" sends its
// record to the source in a request over the read limit; an update whose
// IfMatch is not "3" is a version conflict.
type writeConn struct{ planeConn }

func (writeConn) Create(ctx context.Context, req *CreateRequest) (*WriteResponse, error) {
	switch req.IdempotencyID {
	case "seen":
		return &WriteResponse{Record: json.RawMessage(`{"id":"a1"}`), Version: "1", Replayed: true}, nil
	case "reused":
		return nil, &Error{Code: CodeIdempotencyKeyReused}
	case "big":
		body := make([]byte, maxTransportCallBytes+1)
		if _, err := req.Transport.Do(ctx, &HTTPRequest{Method: "POST", Path: "Appointment", Body: body}); err != nil {
			return nil, err
		}
	}
	rec, _ := json.Marshal(map[string]string{"id": "a1", "digest": req.BodyDigest, "sent": string(req.Record)})
	return &WriteResponse{Record: rec, Version: "1"}, nil
}

func (writeConn) Update(ctx context.Context, req *UpdateRequest) (*WriteResponse, error) {
	if req.IfMatch != "3" {
		return nil, VersionConflict("3")
	}
	return &WriteResponse{Record: json.RawMessage(`{"id":"` + req.ID + `"}`), Version: "4"}, nil
}

func TestCodecWriteCall(t *testing.T) {
	create := &CreateRequest{ConnectionID: "c", Resource: unified.Appointments, Record: json.RawMessage(`{"status":"booked"}`),
		IdempotencyID: "idem", BodyDigest: "dig"}
	fb := encodeWriteCall(3, 99, create, nil)
	var got pb.Call
	if err := proto.Unmarshal(fb.b[frameHeaderLen:], &got); err != nil {
		t.Fatal(err)
	}
	gc := got.GetCreate()
	if got.GetCallId() != 3 || gc.GetConnectionId() != "c" || gc.GetResource() != "appointments" ||
		string(gc.GetRecord()) != `{"status":"booked"}` || gc.GetIdempotencyId() != "idem" || gc.GetBodyDigest() != "dig" {
		t.Fatalf("Call create: %v", &got)
	}
	c, err := decodeCall(fb.b[frameHeaderLen:])
	if err != nil || c.create == nil || c.create.IdempotencyID != "idem" || string(c.create.Record) != `{"status":"booked"}` || c.read != nil {
		t.Fatalf("decoded create: %+v %v", c, err)
	}
	fb.release()

	update := &UpdateRequest{ConnectionID: "c", Resource: unified.Appointments, ID: "a1", Record: json.RawMessage(`{}`), IfMatch: "2"}
	fb = encodeWriteCall(4, 0, nil, update)
	got.Reset()
	if err := proto.Unmarshal(fb.b[frameHeaderLen:], &got); err != nil {
		t.Fatal(err)
	}
	if gu := got.GetUpdate(); gu.GetId() != "a1" || gu.GetIfMatch() != "2" || string(gu.GetRecord()) != `{}` {
		t.Fatalf("Call update: %v", &got)
	}
	c, err = decodeCall(fb.b[frameHeaderLen:])
	if err != nil || c.update == nil || c.update.ID != "a1" || c.update.IfMatch != "2" || c.create != nil {
		t.Fatalf("decoded update: %+v %v", c, err)
	}
	fb.release()

	// A Result's version and replayed flag, both ways.
	fb = encodeResultVersion(5, nil, false, []json.RawMessage{json.RawMessage(`{}`)}, "", false, "7", true)
	var res pb.Result
	if err := proto.Unmarshal(fb.b[frameHeaderLen:], &res); err != nil || res.GetVersion() != "7" || !res.GetReplayed() {
		t.Fatalf("Result: %v %v", &res, err)
	}
	var r resultMsg
	if err := decodeResult(fb.b[frameHeaderLen:], &r); err != nil || r.version != "7" || !r.replayed {
		t.Fatalf("decoded result: %+v %v", r, err)
	}
	fb.release()
}

func TestDataPlaneWrites(t *testing.T) {
	host, pf, err := DataPlanePair()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.FileConn(pf)
	pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ServeDataPlane(pc, writeConn{}) }()
	h := NewHostConn(host)
	t.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, ops, _ := h.WaitHello(ctx)
	if strings.Join(ops, ",") != "read,search,create,update" {
		t.Fatalf("a writer's hello: %v", ops)
	}
	src := &source{}

	resp, _, err := h.Create(ctx, &CreateRequest{ConnectionID: "c", Resource: unified.Appointments,
		Record: json.RawMessage(`{"status":"booked"}`), IdempotencyID: "new", BodyDigest: "d1", Transport: src})
	if err != nil || resp.Version != "1" || resp.Replayed || !strings.Contains(string(resp.Record), `"digest":"d1"`) {
		t.Fatalf("create: %+v %v", resp, err)
	}
	resp.Release()

	resp, _, err = h.Create(ctx, &CreateRequest{ConnectionID: "c", Resource: unified.Appointments, IdempotencyID: "seen", Transport: src})
	if err != nil || !resp.Replayed {
		t.Fatalf("replayed create: %+v %v", resp, err)
	}
	resp.Release()

	if _, _, err = h.Create(ctx, &CreateRequest{IdempotencyID: "reused", Transport: src}); CodeOf(err) != CodeIdempotencyKeyReused {
		t.Fatalf("reused key: %v", err)
	}

	// A write's source request may carry more than a read's.
	if resp, _, err = h.Create(ctx, &CreateRequest{IdempotencyID: "big", Transport: src}); err != nil {
		t.Fatalf("big write request: %v", err)
	}
	resp.Release()

	// A version conflict carries the current version across.
	_, _, err = h.Update(ctx, &UpdateRequest{ID: "a1", IfMatch: "2", Transport: src})
	var ce *Error
	if CodeOf(err) != CodeVersionConflict || !asError(err, &ce) || ce.Version != "3" {
		t.Fatalf("conflict: %v", err)
	}
	resp, _, err = h.Update(ctx, &UpdateRequest{ID: "a1", IfMatch: "3", Transport: src})
	if err != nil || resp.Version != "4" {
		t.Fatalf("update: %+v %v", resp, err)
	}
	resp.Release()
}

// A plugin that only reads announces no writes, and the host sends none.
func TestNoWritesToAReader(t *testing.T) {
	h, _ := plane(t, planeConn{})
	_, _, err := h.Create(context.Background(), &CreateRequest{IdempotencyID: "x", Transport: &source{}})
	if err != ErrNoWrites {
		t.Fatalf("create to a reader: %v", err)
	}
}

func asError(err error, ce **Error) bool {
	e, ok := err.(*Error)
	*ce = e
	return ok
}
