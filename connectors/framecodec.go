package connectors

import (
	"errors"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The data plane's messages, written and read with protowire rather than
// the generated code: field for field they are the messages of
// proto/connector.proto (framecodec_test.go holds each to the generated
// code both ways), but a message is written straight into its frame's
// buffer, sized exactly beforehand, and read without copying its bytes
// fields, which stay slices of the frame. Source bodies and records are so
// written once and never copied on the way in.

// Field numbers, from proto/connector.proto.
const (
	fErrorCode, fErrorParam, fErrorPanicked                                             = 1, 2, 3
	fHeaderName, fHeaderValue                                                           = 1, 2
	fHTTPReqMethod, fHTTPReqPath, fHTTPReqQuery, fHTTPReqHeaders, fHTTPReqBody          = 1, 2, 3, 4, 5
	fHTTPRespStatus, fHTTPRespHeaders, fHTTPRespBody, fHTTPRespError                    = 1, 2, 3, 4
	fExReqMessage                                                                       = 1
	fExRespMessage, fExRespError                                                        = 1, 2
	fHelloProtocol, fHelloMaxFrame, fHelloOperations                                    = 1, 2, 3
	fReadConn, fReadResource, fReadID, fReadRaw                                         = 1, 2, 3, 4
	fSearchConn, fSearchResource, fSearchParams, fSearchLimit, fSearchToken, fSearchRaw = 1, 2, 3, 4, 5, 6
	fPrefetchRequest, fPrefetchResponse                                                 = 1, 2
	fCallID, fCallDeadline, fCallRead, fCallSearch, fCallPrefetch                       = 1, 2, 3, 4, 5
	fCallCreate, fCallUpdate                                                            = 6, 7
	fCreateConn, fCreateResource, fCreateRecord, fCreateIdem, fCreateDigest             = 1, 2, 3, 4, 5
	fUpdateConn, fUpdateResource, fUpdateID, fUpdateRecord, fUpdateIfMatch              = 1, 2, 3, 4, 5
	fCancelID                                                                           = 1
	fResultID, fResultError, fResultRecords, fResultNext, fResultPrefetchUsed           = 1, 2, 3, 4, 5
	fResultVersion, fResultReplayed                                                     = 6, 7
	fTCallID, fTCallSeq, fTCallHTTP, fTCallExchange                                     = 1, 2, 3, 4
	fTReplyID, fTReplySeq, fTReplyHTTP, fTReplyExchange                                 = 1, 2, 3, 4
)

// Wire values of ErrorCode (the proto enum).
var codeToWire = [...]uint64{
	CodeInvalidArgument:        1,
	CodeNotFound:               2,
	CodeUnsupported:            3,
	CodeUpstream:               4,
	CodeUpstreamTimeout:        5,
	CodeSourceUnavailable:      6,
	CodeCredentialsUnavailable: 7,
	CodeInternal:               8,
	CodeVersionConflict:        9,
	CodeIdempotencyKeyReused:   10,
	CodeRejected:               11,
}

func codeFromWire(v uint64) ErrorCode {
	for c, w := range codeToWire {
		if w == v {
			return ErrorCode(c)
		}
	}
	// Unspecified, or a code of a newer peer.
	return CodeInternal
}

// errMalformed is a message that does not parse: the peer broke the
// protocol.
var errMalformed = errors.New("malformed frame")

// Size helpers: each returns 0 for a field proto3 leaves out.

func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBool(num protowire.Number, v bool) int {
	if !v {
		return 0
	}
	return protowire.SizeTag(num) + 1
}

func sizeString(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// sizeMessage is a nested message field that is present, empty or not.
func sizeMessage(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// Append helpers: the counterparts of the size helpers.

func putVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func putBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return putVarint(b, num, 1)
}

func putString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func putBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// putMessageHeader starts a nested message field of n bytes.
func putMessageHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

// fieldFunc sees one field of a message: for a varint its value, for a
// length-delimited field its bytes (a slice of the message).
type fieldFunc func(num protowire.Number, v uint64, data []byte) error

// eachField calls f for every varint and length-delimited field of msg,
// skipping other wire types (a newer peer's fields) after checking them.
func eachField(msg []byte, f fieldFunc) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return errMalformed
		}
		msg = msg[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return errMalformed
			}
			msg = msg[n:]
			if err := f(num, v, nil); err != nil {
				return err
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return errMalformed
			}
			msg = msg[n:]
			// Capped at its length: appending to one field (a record, a
			// body) must never write over the next one in the frame.
			v = v[:len(v):len(v)]
			if err := f(num, 0, v); err != nil {
				return err
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, msg)
			if n < 0 {
				return errMalformed
			}
			msg = msg[n:]
		}
	}
	return nil
}

// Error.

func errorFields(err error) (code uint64, param string) {
	var ce *Error
	if errors.As(err, &ce) {
		param = ce.Param
	}
	c := CodeOf(err)
	if c < 0 || int(c) >= len(codeToWire) {
		// A code this SDK does not define (a connector's typo): internal,
		// rather than a panic outside the call's recover.
		c = CodeInternal
	}
	return codeToWire[c], param
}

func sizeErrorMsg(err error, panicked bool) int {
	code, param := errorFields(err)
	return sizeVarint(fErrorCode, code) + sizeString(fErrorParam, len(param)) + sizeBool(fErrorPanicked, panicked)
}

func putErrorMsg(b []byte, num protowire.Number, err error, panicked bool) []byte {
	code, param := errorFields(err)
	b = putMessageHeader(b, num, sizeErrorMsg(err, panicked))
	b = putVarint(b, fErrorCode, code)
	b = putString(b, fErrorParam, param)
	return putBool(b, fErrorPanicked, panicked)
}

// decodeError reads an Error message: only a code and a parameter name
// cross, never text.
func decodeError(msg []byte) (err *Error, panicked bool, derr error) {
	e := &Error{Code: CodeInternal}
	derr = eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fErrorCode:
			e.Code = codeFromWire(v)
		case fErrorParam:
			e.Param = string(data)
		case fErrorPanicked:
			panicked = v != 0
		}
		return nil
	})
	return e, panicked, derr
}

// Header and Param lists.

func sizeParam(p Param) int {
	return sizeString(fHeaderName, len(p.Name)) + sizeString(fHeaderValue, len(p.Value))
}

func sizeParams(num protowire.Number, ps []Param) int {
	n := 0
	for _, p := range ps {
		n += sizeMessage(num, sizeParam(p))
	}
	return n
}

func putParams(b []byte, num protowire.Number, ps []Param) []byte {
	for _, p := range ps {
		b = putMessageHeader(b, num, sizeParam(p))
		b = putString(b, fHeaderName, p.Name)
		b = putString(b, fHeaderValue, p.Value)
	}
	return b
}

func decodeParam(msg []byte) (Param, error) {
	var p Param
	err := eachField(msg, func(num protowire.Number, _ uint64, data []byte) error {
		switch num {
		case fHeaderName:
			p.Name = InternHeader(data)
		case fHeaderValue:
			p.Value = InternHeaderValue(data)
		}
		return nil
	})
	return p, err
}

// InternHeader returns a header name as a string, without allocating for
// the common ones (the host and the data plane copy every source header).
func InternHeader(b []byte) string {
	switch string(b) {
	case "Accept":
		return "Accept"
	case "Content-Type":
		return "Content-Type"
	case "ETag":
		return "ETag"
	case "Last-Modified":
		return "Last-Modified"
	case "Location":
		return "Location"
	case "Retry-After":
		return "Retry-After"
	}
	return string(b)
}

// InternHeaderValue is InternHeader for the values FHIR and JSON sources
// send most.
func InternHeaderValue(b []byte) string {
	switch string(b) {
	case "application/fhir+json":
		return "application/fhir+json"
	case "application/fhir+json;charset=utf-8":
		return "application/fhir+json;charset=utf-8"
	case "application/fhir+json; charset=utf-8":
		return "application/fhir+json; charset=utf-8"
	case "application/json":
		return "application/json"
	case "application/json; charset=utf-8":
		return "application/json; charset=utf-8"
	}
	return string(b)
}

// HTTPRequest.

func sizeHTTPRequest(r *HTTPRequest) int {
	return sizeString(fHTTPReqMethod, len(r.Method)) + sizeString(fHTTPReqPath, len(r.Path)) +
		sizeParams(fHTTPReqQuery, r.Query) + sizeParams(fHTTPReqHeaders, r.Header) +
		sizeString(fHTTPReqBody, len(r.Body))
}

func putHTTPRequest(b []byte, num protowire.Number, r *HTTPRequest) []byte {
	b = putMessageHeader(b, num, sizeHTTPRequest(r))
	return appendHTTPRequestFields(b, r)
}

// appendHTTPRequestFields writes r's fields, without a field header.
func appendHTTPRequestFields(b []byte, r *HTTPRequest) []byte {
	b = putString(b, fHTTPReqMethod, r.Method)
	b = putString(b, fHTTPReqPath, r.Path)
	b = putParams(b, fHTTPReqQuery, r.Query)
	b = putParams(b, fHTTPReqHeaders, r.Header)
	return putBytes(b, fHTTPReqBody, r.Body)
}

// maxParams bounds the query parameters, and the headers, of one decoded
// request or answer: a peer's frame must not cost the other side many
// times its size in memory (a 2-byte empty entry decodes to a 32-byte
// Param).
const maxParams = 256

func decodeHTTPRequest(msg []byte) (*HTTPRequest, error) {
	r := &HTTPRequest{}
	err := eachField(msg, func(num protowire.Number, _ uint64, data []byte) error {
		switch num {
		case fHTTPReqMethod:
			r.Method = string(data)
		case fHTTPReqPath:
			r.Path = string(data)
		case fHTTPReqQuery, fHTTPReqHeaders:
			if len(r.Query) >= maxParams || len(r.Header) >= maxParams {
				return errMalformed
			}
			p, err := decodeParam(data)
			if err != nil {
				return err
			}
			if num == fHTTPReqQuery {
				r.Query = append(r.Query, p)
			} else {
				r.Header = append(r.Header, p)
			}
		case fHTTPReqBody:
			r.Body = data
		}
		return nil
	})
	return r, err
}

// HTTPResponse: the source's answer, or the host transport's error.

func sizeHTTPResponse(r *HTTPResponse, err error) int {
	if err != nil {
		return sizeMessage(fHTTPRespError, sizeErrorMsg(err, false))
	}
	return sizeVarint(fHTTPRespStatus, uint64(r.Status)) + sizeParams(fHTTPRespHeaders, r.Header) +
		sizeString(fHTTPRespBody, len(r.Body))
}

func putHTTPResponse(b []byte, num protowire.Number, r *HTTPResponse, err error) []byte {
	b = putMessageHeader(b, num, sizeHTTPResponse(r, err))
	if err != nil {
		return putErrorMsg(b, fHTTPRespError, err, false)
	}
	b = putVarint(b, fHTTPRespStatus, uint64(r.Status))
	b = putParams(b, fHTTPRespHeaders, r.Header)
	return putBytes(b, fHTTPRespBody, r.Body)
}

// decodeHTTPResponse reads an HTTPResponse; a host transport error comes
// back as the error.
func decodeHTTPResponse(msg []byte) (*HTTPResponse, error, error) {
	r := &HTTPResponse{}
	var failed error
	derr := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fHTTPRespStatus:
			if v > math.MaxInt32 {
				return errMalformed
			}
			r.Status = int(v)
		case fHTTPRespHeaders:
			if len(r.Header) >= maxParams {
				return errMalformed
			}
			p, err := decodeParam(data)
			if err != nil {
				return err
			}
			r.Header = append(r.Header, p)
		case fHTTPRespBody:
			r.Body = data
		case fHTTPRespError:
			e, _, err := decodeError(data)
			if err != nil {
				return err
			}
			failed = e
		}
		return nil
	})
	if derr != nil {
		return nil, nil, derr
	}
	if failed != nil {
		return nil, failed, nil
	}
	return r, nil, nil
}
