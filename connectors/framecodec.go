package connectors

import (
	"encoding/json"
	"errors"
	"math"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ferryhealth/ferry/unified"
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
	fCancelID                                                                           = 1
	fResultID, fResultError, fResultRecords, fResultNext, fResultPrefetchUsed           = 1, 2, 3, 4, 5
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
	return codeToWire[CodeOf(err)], param
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

func decodeHTTPRequest(msg []byte) (*HTTPRequest, error) {
	r := &HTTPRequest{}
	err := eachField(msg, func(num protowire.Number, _ uint64, data []byte) error {
		switch num {
		case fHTTPReqMethod:
			r.Method = string(data)
		case fHTTPReqPath:
			r.Path = string(data)
		case fHTTPReqQuery, fHTTPReqHeaders:
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

// Hello.

// helloMsg is the plugin's first frame.
type helloMsg struct {
	protocol   uint32
	maxFrame   uint64
	operations []string
}

func encodeHello(h *helloMsg) *frameBuf {
	n := sizeVarint(fHelloProtocol, uint64(h.protocol)) + sizeVarint(fHelloMaxFrame, h.maxFrame)
	for _, op := range h.operations {
		n += sizeString(fHelloOperations, len(op))
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fHelloProtocol, uint64(h.protocol))
	b = putVarint(b, fHelloMaxFrame, h.maxFrame)
	for _, op := range h.operations {
		b = putString(b, fHelloOperations, op)
	}
	fb.b = b
	return fb
}

func decodeHello(msg []byte) (*helloMsg, error) {
	h := &helloMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fHelloProtocol:
			if v > math.MaxUint32 {
				return errMalformed
			}
			h.protocol = uint32(v)
		case fHelloMaxFrame:
			h.maxFrame = v
		case fHelloOperations:
			h.operations = append(h.operations, string(data))
		}
		return nil
	})
	return h, err
}

// Call.

// callMsg is one Call frame, decoded. Exactly one of read and search is set
// for the operations this SDK knows; neither, for a newer host's operation.
type callMsg struct {
	id       uint64
	deadline int64
	read     *ReadRequest
	search   *SearchRequest
	// prefetch is the host's answer to the request it made before the call,
	// or nil; prefetchRequest is that request as encoded, which the plugin
	// compares with the connector's own request encoded the same way (so it
	// is never decoded: the plugin has no other use for it).
	prefetch        *HTTPResponse
	prefetchRequest []byte

	readReq ReadRequest // read points here: one allocation less
	// transport is the call's Transport on the plugin's side, here for
	// the same reason.
	transport planeTransport
}

func sizeReadRequest(r *ReadRequest) int {
	return sizeString(fReadConn, len(r.ConnectionID)) + sizeString(fReadResource, len(r.Resource)) +
		sizeString(fReadID, len(r.ID)) + sizeBool(fReadRaw, r.Raw)
}

func sizeSearchRequest(r *SearchRequest) int {
	n := sizeString(fSearchConn, len(r.ConnectionID)) + sizeString(fSearchResource, len(r.Resource)) +
		sizeVarint(fSearchLimit, uint64(max(r.Limit, 0))) + sizeString(fSearchToken, len(r.PageToken)) +
		sizeBool(fSearchRaw, r.Raw)
	for k, v := range r.Params {
		n += sizeMessage(fSearchParams, sizeParam(Param{k, v}))
	}
	return n
}

func sizePrefetch(p *Prefetched) int {
	return sizeMessage(fPrefetchRequest, sizeHTTPRequest(p.Request)) +
		sizeMessage(fPrefetchResponse, sizeHTTPResponse(p.Response, nil))
}

// encodeCall writes a Call frame for a read or a search (one of the two is
// nil), with the host's prefetched exchange or none.
func encodeCall(id uint64, deadline int64, read *ReadRequest, search *SearchRequest, pre *Prefetched) *frameBuf {
	n := sizeVarint(fCallID, id) + sizeVarint(fCallDeadline, uint64(max(deadline, 0)))
	var opSize int
	if read != nil {
		opSize = sizeReadRequest(read)
		n += sizeMessage(fCallRead, opSize)
	} else {
		opSize = sizeSearchRequest(search)
		n += sizeMessage(fCallSearch, opSize)
	}
	if pre != nil {
		n += sizeMessage(fCallPrefetch, sizePrefetch(pre))
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fCallID, id)
	b = putVarint(b, fCallDeadline, uint64(max(deadline, 0)))
	if read != nil {
		b = putMessageHeader(b, fCallRead, opSize)
		b = putString(b, fReadConn, read.ConnectionID)
		b = putString(b, fReadResource, string(read.Resource))
		b = putString(b, fReadID, read.ID)
		b = putBool(b, fReadRaw, read.Raw)
	} else {
		b = putMessageHeader(b, fCallSearch, opSize)
		b = putString(b, fSearchConn, search.ConnectionID)
		b = putString(b, fSearchResource, string(search.Resource))
		for k, v := range search.Params {
			b = putMessageHeader(b, fSearchParams, sizeParam(Param{k, v}))
			b = putString(b, fHeaderName, k)
			b = putString(b, fHeaderValue, v)
		}
		b = putVarint(b, fSearchLimit, uint64(max(search.Limit, 0)))
		b = putString(b, fSearchToken, search.PageToken)
		b = putBool(b, fSearchRaw, search.Raw)
	}
	if pre != nil {
		b = putMessageHeader(b, fCallPrefetch, sizePrefetch(pre))
		b = putHTTPRequest(b, fPrefetchRequest, pre.Request)
		b = putHTTPResponse(b, fPrefetchResponse, pre.Response, nil)
	}
	fb.b = b
	return fb
}

// resources maps resource names to their values, so that decoding a
// resource type does not allocate.
var resources = func() map[string]unified.ResourceType {
	m := map[string]unified.ResourceType{}
	for _, r := range unified.ResourceTypes() {
		m[string(r)] = r
	}
	return m
}()

// connectionIDs interns the connection ids a plugin sees on every call:
// there are a few per plugin (one per configured connection).
var connectionIDs = internTable{m: map[string]string{}}

type internTable struct {
	mu sync.RWMutex
	m  map[string]string
}

// maxInterned bounds the table: past it, ids are allocated each time.
const maxInterned = 1 << 14

func (t *internTable) intern(b []byte) string {
	t.mu.RLock()
	s, ok := t.m[string(b)]
	t.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	t.mu.Lock()
	if len(t.m) < maxInterned {
		t.m[s] = s
	}
	t.mu.Unlock()
	return s
}

func resourceOf(b []byte) unified.ResourceType {
	if r, ok := resources[string(b)]; ok {
		return r
	}
	return unified.ResourceType(b)
}

func decodeCall(msg []byte) (*callMsg, error) {
	c := &callMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fCallID:
			c.id = v
		case fCallDeadline:
			if v > math.MaxInt64 {
				return errMalformed
			}
			c.deadline = int64(v)
		case fCallRead:
			c.readReq = ReadRequest{}
			r := &c.readReq
			if err := eachField(data, func(num protowire.Number, v uint64, data []byte) error {
				switch num {
				case fReadConn:
					r.ConnectionID = connectionIDs.intern(data)
				case fReadResource:
					r.Resource = resourceOf(data)
				case fReadID:
					r.ID = string(data)
				case fReadRaw:
					r.Raw = v != 0
				}
				return nil
			}); err != nil {
				return err
			}
			c.read, c.search = r, nil
		case fCallSearch:
			r := &SearchRequest{}
			if err := eachField(data, func(num protowire.Number, v uint64, data []byte) error {
				switch num {
				case fSearchConn:
					r.ConnectionID = connectionIDs.intern(data)
				case fSearchResource:
					r.Resource = resourceOf(data)
				case fSearchParams:
					p, err := decodeParam(data)
					if err != nil {
						return err
					}
					if r.Params == nil {
						r.Params = map[string]string{}
					}
					r.Params[p.Name] = p.Value
				case fSearchLimit:
					if v > math.MaxInt32 {
						return errMalformed
					}
					r.Limit = int(v)
				case fSearchToken:
					r.PageToken = string(data)
				case fSearchRaw:
					r.Raw = v != 0
				}
				return nil
			}); err != nil {
				return err
			}
			c.search, c.read = r, nil
		case fCallPrefetch:
			var request bool
			if err := eachField(data, func(num protowire.Number, _ uint64, data []byte) error {
				var err error
				switch num {
				case fPrefetchRequest:
					c.prefetchRequest, request = data, true
				case fPrefetchResponse:
					var failed error
					c.prefetch, failed, err = decodeHTTPResponse(data)
					if err == nil && failed != nil {
						err = errMalformed // the host sends only answers it got
					}
				}
				return err
			}); err != nil {
				return err
			}
			if !request || c.prefetch == nil {
				return errMalformed
			}
		}
		return nil
	})
	return c, err
}

// Cancel.

func encodeCancel(id uint64) *frameBuf {
	fb := newFrame(sizeVarint(fCancelID, id))
	fb.b = putVarint(fb.b[:frameHeaderLen], fCancelID, id)
	return fb
}

func decodeCancel(msg []byte) (uint64, error) {
	var id uint64
	err := eachField(msg, func(num protowire.Number, v uint64, _ []byte) error {
		if num == fCancelID {
			id = v
		}
		return nil
	})
	return id, err
}

// Result.

// resultMsg is one Result frame, decoded. records are slices of the frame.
type resultMsg struct {
	id           uint64
	err          *Error
	panicked     bool
	records      []json.RawMessage
	next         string
	prefetchUsed bool
}

// encodeResult writes a Result: err (with panicked), or the records and
// the next page token.
func encodeResult(id uint64, err error, panicked bool, records []json.RawMessage, next string, prefetchUsed bool) *frameBuf {
	n := sizeVarint(fResultID, id) + sizeBool(fResultPrefetchUsed, prefetchUsed)
	if err != nil || panicked {
		n += sizeMessage(fResultError, sizeErrorMsg(err, panicked))
	} else {
		for _, r := range records {
			// Every record is written, an empty one too: the count
			// matters.
			n += protowire.SizeTag(fResultRecords) + protowire.SizeBytes(len(r))
		}
		n += sizeString(fResultNext, len(next))
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fResultID, id)
	if err != nil || panicked {
		b = putErrorMsg(b, fResultError, err, panicked)
	} else {
		for _, r := range records {
			b = protowire.AppendTag(b, fResultRecords, protowire.BytesType)
			b = protowire.AppendBytes(b, r)
		}
		b = putString(b, fResultNext, next)
	}
	b = putBool(b, fResultPrefetchUsed, prefetchUsed)
	fb.b = b
	return fb
}

// decodeResult reads a Result into r.
func decodeResult(msg []byte, r *resultMsg) error {
	*r = resultMsg{}
	count := 0
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		switch num {
		case fResultID:
			r.id = v
		case fResultError:
			e, panicked, err := decodeError(data)
			if err != nil {
				return err
			}
			r.err, r.panicked = e, panicked
		case fResultRecords:
			count++
		case fResultNext:
			r.next = string(data)
		case fResultPrefetchUsed:
			r.prefetchUsed = v != 0
		}
		return nil
	})
	if err != nil || count == 0 {
		return err
	}
	// A second pass, so that the records' slice is allocated once.
	r.records = make([]json.RawMessage, 0, count)
	return eachField(msg, func(num protowire.Number, _ uint64, data []byte) error {
		if num == fResultRecords {
			r.records = append(r.records, data)
		}
		return nil
	})
}

// TransportCall.

// transportCallMsg is one TransportCall: an HTTP request, or a message
// exchange (exchange set, message the message).
type transportCallMsg struct {
	callID, seq uint64
	http        *HTTPRequest
	exchange    bool
	message     []byte
}

func encodeTransportCall(callID, seq uint64, http *HTTPRequest, message []byte) *frameBuf {
	n := sizeVarint(fTCallID, callID) + sizeVarint(fTCallSeq, seq)
	var inner int
	if http != nil {
		inner = sizeHTTPRequest(http)
		n += sizeMessage(fTCallHTTP, inner)
	} else {
		inner = sizeString(fExReqMessage, len(message))
		n += sizeMessage(fTCallExchange, inner)
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fTCallID, callID)
	b = putVarint(b, fTCallSeq, seq)
	if http != nil {
		b = putHTTPRequest(b, fTCallHTTP, http)
	} else {
		b = putMessageHeader(b, fTCallExchange, inner)
		b = putBytes(b, fExReqMessage, message)
	}
	fb.b = b
	return fb
}

func decodeTransportCall(msg []byte) (*transportCallMsg, error) {
	t := &transportCallMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		var err error
		switch num {
		case fTCallID:
			t.callID = v
		case fTCallSeq:
			t.seq = v
		case fTCallHTTP:
			t.http, t.exchange = nil, false
			t.http, err = decodeHTTPRequest(data)
		case fTCallExchange:
			t.http, t.exchange = nil, true
			err = eachField(data, func(num protowire.Number, _ uint64, data []byte) error {
				if num == fExReqMessage {
					t.message = data
				}
				return nil
			})
		}
		return err
	})
	return t, err
}

// TransportReply.

// transportReplyMsg answers a TransportCall: an HTTP answer or exchanged
// message, or the host transport's error.
type transportReplyMsg struct {
	callID, seq uint64
	exchange    bool
	http        *HTTPResponse
	message     []byte
	err         error
}

func encodeTransportReply(callID, seq uint64, exchange bool, http *HTTPResponse, message []byte, err error) *frameBuf {
	n := sizeVarint(fTReplyID, callID) + sizeVarint(fTReplySeq, seq)
	var inner int
	if !exchange {
		inner = sizeHTTPResponse(http, err)
		n += sizeMessage(fTReplyHTTP, inner)
	} else {
		if err != nil {
			inner = sizeMessage(fExRespError, sizeErrorMsg(err, false))
		} else {
			inner = sizeString(fExRespMessage, len(message))
		}
		n += sizeMessage(fTReplyExchange, inner)
	}
	fb := newFrame(n)
	b := fb.b[:frameHeaderLen]
	b = putVarint(b, fTReplyID, callID)
	b = putVarint(b, fTReplySeq, seq)
	if !exchange {
		b = putHTTPResponse(b, fTReplyHTTP, http, err)
	} else {
		b = putMessageHeader(b, fTReplyExchange, inner)
		if err != nil {
			b = putErrorMsg(b, fExRespError, err, false)
		} else {
			b = putBytes(b, fExRespMessage, message)
		}
	}
	fb.b = b
	return fb
}

func decodeTransportReply(msg []byte) (*transportReplyMsg, error) {
	t := &transportReplyMsg{}
	err := eachField(msg, func(num protowire.Number, v uint64, data []byte) error {
		var err error
		switch num {
		case fTReplyID:
			t.callID = v
		case fTReplySeq:
			t.seq = v
		case fTReplyHTTP:
			t.exchange = false
			t.http, t.err, err = decodeHTTPResponse(data)
		case fTReplyExchange:
			t.exchange, t.http = true, nil
			err = eachField(data, func(num protowire.Number, _ uint64, data []byte) error {
				switch num {
				case fExRespMessage:
					t.message = data
				case fExRespError:
					e, _, err := decodeError(data)
					if err != nil {
						return err
					}
					t.err = e
				}
				return nil
			})
		}
		return err
	})
	return t, err
}
