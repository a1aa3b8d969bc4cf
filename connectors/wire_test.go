package connectors

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
)

// TestProtocolVersionMatchesProto keeps the handshake's protocol version and
// the proto package's major version in step: bumping one without the other
// would let mismatched hosts and plugins talk.
func TestProtocolVersionMatchesProto(t *testing.T) {
	full := string(pb.File_connector_proto.Package()) // ferry.connector.v1
	i := strings.LastIndex(full, ".v")
	major, err := strconv.Atoi(full[i+2:])
	if i < 0 || err != nil {
		t.Fatalf("proto package %q has no major version", full)
	}
	if major != ProtocolVersion || Handshake.ProtocolVersion != ProtocolVersion {
		t.Fatalf("proto v%d, ProtocolVersion %d, handshake %d", major, ProtocolVersion, Handshake.ProtocolVersion)
	}
}

func TestErrorCodesRoundTrip(t *testing.T) {
	seen := map[pb.ErrorCode]bool{}
	for c := range codeNames {
		code := ErrorCode(c)
		w := ErrorToWire(&Error{Code: code, Param: "p", Err: errors.New("upstream said: Jane Doe")})
		if w.Code == pb.ErrorCode_ERROR_CODE_UNSPECIFIED || seen[w.Code] {
			t.Fatalf("%s maps to %v (unspecified or shared)", code, w.Code)
		}
		seen[w.Code] = true
		back := ErrorFromWire(w)
		if CodeOf(back) != code || back.(*Error).Param != "p" || strings.Contains(back.Error(), "Jane") {
			t.Fatalf("%s came back as %v", code, back)
		}
	}
	// Every wire code but UNSPECIFIED is reachable from Go.
	if len(seen) != len(pb.ErrorCode_name)-1 {
		t.Fatalf("%d Go codes for %d wire codes", len(seen), len(pb.ErrorCode_name)-1)
	}
	if CodeOf(ErrorFromWire(&pb.Error{Code: 99})) != CodeInternal || ErrorFromWire(nil) != nil || ErrorToWire(nil) != nil {
		t.Fatal("unknown or nil codes mishandled")
	}
	if CodeOf(wireRoundTrip(errors.New("plain"))) != CodeInternal {
		t.Fatal("a plain error must cross as internal")
	}
}

func wireRoundTrip(err error) error { return ErrorFromWire(ErrorToWire(err)) }
