package connectors

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
)

// echoHost is a host Transport service whose Exchange echoes the message
// for call 7 only.
type echoHost struct {
	pb.UnimplementedTransportServer
}

func (h *echoHost) Exchange(_ context.Context, req *pb.ExchangeRequest) (*pb.ExchangeResponse, error) {
	if req.GetCallId() != 7 {
		return &pb.ExchangeResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, Param: "call_id"}}, nil
	}
	if string(req.GetMessage()) == "down" {
		return &pb.ExchangeResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_SOURCE_UNAVAILABLE}}, nil
	}
	return &pb.ExchangeResponse{Message: append([]byte("re: "), req.GetMessage()...)}, nil
}

func transportClient(t *testing.T, srv pb.TransportServer) pb.TransportClient {
	t.Helper()
	ln := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	pb.RegisterTransportServer(s, srv)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewTransportClient(conn)
}

// TestWireTransportExchange: the Transport a plugin gets is an Exchanger
// whose calls carry the call id, and whose errors are the host's codes.
func TestWireTransportExchange(t *testing.T) {
	var tr Transport = &wireTransport{client: transportClient(t, &echoHost{}), callID: 7}
	ex, ok := tr.(Exchanger)
	if !ok {
		t.Fatal("the plugin's Transport is not an Exchanger")
	}
	got, err := ex.Exchange(context.Background(), []byte("MSH|^~\\&|Q"))
	if err != nil || string(got) != "re: MSH|^~\\&|Q" {
		t.Fatalf("Exchange: %q %v", got, err)
	}
	if _, err := ex.Exchange(context.Background(), []byte("down")); CodeOf(err) != CodeSourceUnavailable {
		t.Fatalf("host error: %v", err)
	}
	// A host older than the Exchange RPC.
	old := &wireTransport{client: transportClient(t, &pb.UnimplementedTransportServer{}), callID: 7}
	if _, err := old.Exchange(context.Background(), []byte("MSH|")); CodeOf(err) != CodeUnsupported {
		t.Fatalf("old host: %v", err)
	}
	if _, err := (&wireTransport{}).Exchange(context.Background(), []byte("MSH|")); CodeOf(err) != CodeInternal {
		t.Fatalf("no host: %v", err)
	}
}
