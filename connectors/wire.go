package connectors

import (
	"github.com/hashicorp/go-plugin"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
)

// PluginName is the name under which the connector service is dispensed in
// go-plugin's plugin set.
const PluginName = "connector"

// Handshake is the go-plugin handshake shared by host and plugins. The magic
// cookie only stops a plugin binary from being run by hand by mistake; it is
// not a security measure (the host verifies the binary's SHA-256 instead).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "FERRY_CONNECTOR_PLUGIN",
	MagicCookieValue: "8d1f2c6e-ferry-connector-v1",
}

var codeToPB = map[ErrorCode]pb.ErrorCode{
	CodeInternal:               pb.ErrorCode_ERROR_CODE_INTERNAL,
	CodeInvalidArgument:        pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT,
	CodeNotFound:               pb.ErrorCode_ERROR_CODE_NOT_FOUND,
	CodeUnsupported:            pb.ErrorCode_ERROR_CODE_UNSUPPORTED,
	CodeUpstream:               pb.ErrorCode_ERROR_CODE_UPSTREAM,
	CodeUpstreamTimeout:        pb.ErrorCode_ERROR_CODE_UPSTREAM_TIMEOUT,
	CodeSourceUnavailable:      pb.ErrorCode_ERROR_CODE_SOURCE_UNAVAILABLE,
	CodeCredentialsUnavailable: pb.ErrorCode_ERROR_CODE_CREDENTIALS_UNAVAILABLE,
	CodeVersionConflict:        pb.ErrorCode_ERROR_CODE_VERSION_CONFLICT,
	CodeIdempotencyKeyReused:   pb.ErrorCode_ERROR_CODE_IDEMPOTENCY_KEY_REUSED,
	CodeRejected:               pb.ErrorCode_ERROR_CODE_REJECTED,
}

// ErrorToWire converts err for the control plane: only its code and parameter name
// cross, never its text. A nil err gives nil.
func ErrorToWire(err error) *pb.Error {
	if err == nil {
		return nil
	}
	var param string
	if e, ok := err.(*Error); ok {
		param = e.Param
	}
	return &pb.Error{Code: codeToPB[CodeOf(err)], Param: param}
}

// ErrorFromWire converts a wire error back to an *Error; nil gives nil. An
// unknown or unspecified code (a newer or broken peer) becomes CodeInternal.
func ErrorFromWire(e *pb.Error) error {
	if e == nil {
		return nil
	}
	for code, w := range codeToPB {
		if w == e.Code && e.Code != pb.ErrorCode_ERROR_CODE_UNSPECIFIED {
			return &Error{Code: code, Param: e.Param}
		}
	}
	return &Error{Code: CodeInternal, Param: e.Param}
}

// ParamsToWire and ParamsFromWire convert name/value lists.
func ParamsToWire(ps []Param) []*pb.Header {
	if len(ps) == 0 {
		return nil
	}
	out := make([]*pb.Header, len(ps))
	for i, p := range ps {
		out[i] = &pb.Header{Name: p.Name, Value: p.Value}
	}
	return out
}

// ParamsFromWire is the inverse of ParamsToWire.
func ParamsFromWire(hs []*pb.Header) []Param {
	if len(hs) == 0 {
		return nil
	}
	out := make([]Param, len(hs))
	for i, h := range hs {
		out[i] = Param{Name: h.GetName(), Value: h.GetValue()}
	}
	return out
}
