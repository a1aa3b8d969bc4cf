package connectors

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
)

// sessionConn answers reads by id: "echo" makes one Transport.Do and
// returns its body, "hang" waits for its context, "panic" panics, "big" is
// over the message limit.
type sessionConn struct{ Connector }

func (sessionConn) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	switch req.ID {
	case "echo":
		resp, err := req.Transport.Do(ctx, &HTTPRequest{Path: "Patient/" + req.ID})
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(map[string]string{"body": string(resp.Body)})
		return &ReadResponse{Record: b}, nil
	case "hang":
		<-ctx.Done()
		return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
	case "panic":
		panic("canary")
	case "big":
		return &ReadResponse{Record: json.RawMessage(`"` + strings.Repeat("x", MaxMessageBytes) + `"`)}, nil
	}
	return nil, &Error{Code: CodeNotFound}
}

func sessionStream(t *testing.T) pb.Connector_SessionClient {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	s := grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
	pb.RegisterConnectorServer(s, NewWireServer(sessionConn{}, nil))
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := pb.NewConnectorClient(conn).Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md, _ := stream.Header(); md == nil {
		_, err := stream.Recv()
		t.Fatalf("no session headers: %v", err)
	}
	return stream
}

func callRead(t *testing.T, s pb.Connector_SessionClient, id uint64, recordID string, deadline time.Time) {
	t.Helper()
	c := &pb.Call{CallId: id, Request: &pb.Call_Read{Read: &pb.ReadRequest{ConnectionId: "c", Resource: "patients", Id: recordID}}}
	if !deadline.IsZero() {
		c.Deadline = deadline.UnixNano()
	}
	if err := s.Send(&pb.HostFrame{Frame: &pb.HostFrame_Call{Call: c}}); err != nil {
		t.Fatal(err)
	}
}

func recvFrame(t *testing.T, s pb.Connector_SessionClient) *pb.PluginFrame {
	t.Helper()
	f, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSession drives the plugin's end of the stream as the host does:
// transport calls in-band, the deadline, Cancel, a contained panic and an
// answer over the limit, all on one stream that survives them.
func TestSession(t *testing.T) {
	s := sessionStream(t)

	// A transport call comes back tagged with the call id; a stray reply
	// (wrong seq) is ignored, the right one completes the call.
	callRead(t, s, 7, "echo", time.Time{})
	tc := recvFrame(t, s).GetTransportCall()
	if tc.GetCallId() != 7 || tc.GetHttp().GetPath() != "Patient/echo" {
		t.Fatalf("transport call: %v", tc)
	}
	for _, seq := range []uint64{tc.GetSeq() + 100, tc.GetSeq()} {
		if err := s.Send(&pb.HostFrame{Frame: &pb.HostFrame_TransportReply{TransportReply: &pb.TransportReply{
			CallId: 7, Seq: seq, Reply: &pb.TransportReply_Http{Http: &pb.HTTPResponse{Status: 200, Body: []byte("hi")}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	res := recvFrame(t, s).GetResult()
	if res.GetCallId() != 7 || string(res.GetRead().GetRecord()) != `{"body":"hi"}` {
		t.Fatalf("result: %v", res)
	}

	// The deadline travels: a hanging call ends with it.
	callRead(t, s, 8, "hang", time.Now().Add(50*time.Millisecond))
	if res := recvFrame(t, s).GetResult(); res.GetCallId() != 8 || res.GetRead().GetError().GetCode() != pb.ErrorCode_ERROR_CODE_UPSTREAM_TIMEOUT {
		t.Fatalf("deadline: %v", res)
	}

	// Cancel ends a call without a deadline.
	callRead(t, s, 9, "hang", time.Time{})
	if err := s.Send(&pb.HostFrame{Frame: &pb.HostFrame_Cancel{Cancel: &pb.Cancel{CallId: 9}}}); err != nil {
		t.Fatal(err)
	}
	if res := recvFrame(t, s).GetResult(); res.GetCallId() != 9 || res.GetRead().GetError() == nil {
		t.Fatalf("cancel: %v", res)
	}

	// A panic is this call's internal error, flagged, without its text.
	callRead(t, s, 10, "panic", time.Time{})
	if e := recvFrame(t, s).GetResult().GetRead().GetError(); e.GetCode() != pb.ErrorCode_ERROR_CODE_INTERNAL || !e.GetPanicked() {
		t.Fatalf("panic: %v", e)
	}

	// An answer over the message limit fails the call, not the stream.
	callRead(t, s, 11, "big", time.Time{})
	if e := recvFrame(t, s).GetResult().GetRead().GetError(); e.GetCode() != pb.ErrorCode_ERROR_CODE_INTERNAL {
		t.Fatalf("big: %v", e)
	}
	callRead(t, s, 12, "nope", time.Time{})
	if e := recvFrame(t, s).GetResult().GetRead().GetError(); e.GetCode() != pb.ErrorCode_ERROR_CODE_NOT_FOUND {
		t.Fatalf("after big: %v", e)
	}
}
