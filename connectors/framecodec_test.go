package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
	"github.com/ferryhealth/ferry/unified"
)

// The hand-written codec is held to the generated code, both ways: what it
// writes, proto.Unmarshal reads into the expected message, and what
// proto.Marshal writes, it reads back. Each encoder also writes exactly the
// size it computed beforehand (the frame is allocated from that size).

// payload returns a frame's message and checks it filled the frame exactly.
func payload(t *testing.T, fb *frameBuf, predicted int) []byte {
	t.Helper()
	if got := len(fb.b) - frameHeaderLen; got != predicted {
		t.Fatalf("encoded %d bytes, sized %d", got, predicted)
	}
	return fb.b[frameHeaderLen:]
}

func unmarshal(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	sampleRequest = &HTTPRequest{
		Method: "GET", Path: "Observation",
		Query:  []Param{{"patient", "p-1"}, {"code", "http://loinc.org|8867-4"}, {"_count", "20"}},
		Header: []Param{{"Accept", "application/fhir+json"}},
	}
	sampleResponse = &HTTPResponse{
		Status: 200, Header: []Param{{"Content-Type", "application/fhir+json"}, {"ETag", `W/"3"`}},
		Body: []byte(`{"resourceType":"Bundle","entry":[]}`),
	}
)

func TestCodecCall(t *testing.T) {
	read := &ReadRequest{ConnectionID: "acme-ehr", Resource: unified.Patients, ID: "p-1", Raw: true}
	pre := &Prefetched{Request: &HTTPRequest{Method: "GET", Path: "Patient/p-1", Header: []Param{{"Accept", "application/fhir+json"}}}, Response: sampleResponse}
	fb := encodeCall(42, 1_700_000_000_000_000_000, read, nil, pre)
	var got pb.Call
	n := sizeVarint(fCallID, 42) + sizeVarint(fCallDeadline, 1_700_000_000_000_000_000) +
		sizeMessage(fCallRead, sizeReadRequest(read)) + sizeMessage(fCallPrefetch, sizePrefetch(pre))
	unmarshal(t, payload(t, fb, n), &got)
	want := &pb.Call{
		CallId: 42, Deadline: 1_700_000_000_000_000_000,
		Op: &pb.Call_Read{Read: &pb.ReadRequest{ConnectionId: "acme-ehr", Resource: "patients", Id: "p-1", Raw: true}},
		Prefetch: &pb.Prefetch{
			Request: &pb.HTTPRequest{Method: "GET", Path: "Patient/p-1", Headers: []*pb.Header{{Name: "Accept", Value: "application/fhir+json"}}},
			Response: &pb.HTTPResponse{Status: 200, Body: sampleResponse.Body, Headers: []*pb.Header{
				{Name: "Content-Type", Value: "application/fhir+json"}, {Name: "ETag", Value: `W/"3"`}}},
		},
	}
	if !proto.Equal(&got, want) {
		t.Fatalf("Call read:\n got %v\nwant %v", &got, want)
	}
	c, err := decodeCall(marshal(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if c.id != 42 || c.deadline != 1_700_000_000_000_000_000 || !reflect.DeepEqual(c.read, read) || c.search != nil {
		t.Fatalf("decoded read call: %+v %+v", c, c.read)
	}
	if !reflect.DeepEqual(c.prefetch, pre.Response) {
		t.Fatalf("decoded prefetch: %+v", c.prefetch)
	}
	// The prefetched request's bytes are what the plugin compares with.
	if !bytes.Equal(c.prefetchRequest, marshal(t, want.Prefetch.Request)) {
		t.Fatal("prefetchRequest is not the encoded request")
	}
	fb.release()

	search := &SearchRequest{ConnectionID: "c", Resource: unified.Observations, Limit: 200, PageToken: "tok",
		Params: map[string]string{"patient_id": "p-1", "code": "http://loinc.org|8867-4"}}
	fb = encodeCall(7, 0, nil, search, nil)
	got.Reset()
	unmarshal(t, payload(t, fb, sizeVarint(fCallID, 7)+sizeMessage(fCallSearch, sizeSearchRequest(search))), &got)
	gs := got.GetSearch()
	if got.GetCallId() != 7 || gs.GetConnectionId() != "c" || gs.GetResource() != "observations" || gs.GetLimit() != 200 || gs.GetPageToken() != "tok" || len(gs.GetParams()) != 2 {
		t.Fatalf("Call search: %v", &got)
	}
	c, err = decodeCall(fb.b[frameHeaderLen:])
	if err != nil || !reflect.DeepEqual(c.search, search) || c.prefetch != nil {
		t.Fatalf("decoded search call: %+v %v", c.search, err)
	}
	fb.release()

	// A Call with an operation this SDK does not know decodes to neither.
	c, err = decodeCall(append(marshal(t, &pb.Call{CallId: 9}), 0x4a, 0)) // field 9, empty
	if err != nil || c.read != nil || c.search != nil || c.id != 9 {
		t.Fatalf("unknown op: %+v %v", c, err)
	}
}

func TestCodecResult(t *testing.T) {
	recs := []json.RawMessage{json.RawMessage(`{"id":"a"}`), json.RawMessage(``), json.RawMessage(`{"id":"b"}`)}
	fb := encodeResult(5, nil, false, recs, "next", true)
	var got pb.Result
	n := sizeVarint(fResultID, 5) + sizeString(fResultNext, 4) + sizeBool(fResultPrefetchUsed, true)
	for _, r := range recs {
		n += sizeMessage(fResultRecords, len(r))
	}
	unmarshal(t, payload(t, fb, n), &got)
	if got.GetCallId() != 5 || len(got.GetRecords()) != 3 || string(got.GetRecords()[2]) != `{"id":"b"}` || got.GetNextPageToken() != "next" || !got.GetPrefetchUsed() {
		t.Fatalf("Result: %v", &got)
	}
	r := &resultMsg{}
	err := decodeResult(fb.b[frameHeaderLen:], r)
	if err != nil || r.id != 5 || len(r.records) != 3 || len(r.records[1]) != 0 || r.next != "next" || !r.prefetchUsed || r.err != nil {
		t.Fatalf("decoded: %+v %v", r, err)
	}
	fb.release()

	// An error crosses as its code and parameter only.
	fb = encodeResult(6, &Error{Code: CodeInvalidArgument, Param: "name", Err: errors.New("Jane Doe")}, false, nil, "", false)
	got.Reset()
	unmarshal(t, fb.b[frameHeaderLen:], &got)
	if got.GetError().GetCode() != pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT || got.GetError().GetParam() != "name" || bytes.Contains(fb.b, []byte("Jane")) {
		t.Fatalf("error result: %v", &got)
	}
	fb.release()
	err = decodeResult(marshal(t, &pb.Result{CallId: 3, Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL, Panicked: true}}), r)
	if err != nil || r.err.Code != CodeInternal || !r.panicked {
		t.Fatalf("panicked result: %+v %v", r, err)
	}
}

func TestCodecTransport(t *testing.T) {
	fb := encodeTransportCall(3, 4, sampleRequest, nil)
	var tc pb.TransportCall
	unmarshal(t, payload(t, fb, sizeVarint(fTCallID, 3)+sizeVarint(fTCallSeq, 4)+sizeMessage(fTCallHTTP, sizeHTTPRequest(sampleRequest))), &tc)
	if tc.GetCallId() != 3 || tc.GetSeq() != 4 || tc.GetHttp().GetPath() != "Observation" || len(tc.GetHttp().GetQuery()) != 3 {
		t.Fatalf("TransportCall: %v", &tc)
	}
	m, err := decodeTransportCall(fb.b[frameHeaderLen:])
	if err != nil || m.exchange || !reflect.DeepEqual(m.http, sampleRequest) {
		t.Fatalf("decoded: %+v %v", m.http, err)
	}
	fb.release()
	m, err = decodeTransportCall(marshal(t, &pb.TransportCall{CallId: 1, Seq: 2, Request: &pb.TransportCall_Exchange{Exchange: &pb.ExchangeRequest{Message: []byte("MSH|")}}}))
	if err != nil || !m.exchange || string(m.message) != "MSH|" || m.seq != 2 {
		t.Fatalf("exchange call: %+v %v", m, err)
	}

	fb = encodeTransportReply(3, 4, false, sampleResponse, nil, nil)
	var tr pb.TransportReply
	unmarshal(t, payload(t, fb, sizeVarint(fTReplyID, 3)+sizeVarint(fTReplySeq, 4)+sizeMessage(fTReplyHTTP, sizeHTTPResponse(sampleResponse, nil))), &tr)
	if tr.GetHttp().GetStatus() != 200 || string(tr.GetHttp().GetBody()) != string(sampleResponse.Body) {
		t.Fatalf("TransportReply: %v", &tr)
	}
	rm, err := decodeTransportReply(fb.b[frameHeaderLen:])
	if err != nil || rm.err != nil || !reflect.DeepEqual(rm.http, sampleResponse) {
		t.Fatalf("decoded reply: %+v %v", rm, err)
	}
	fb.release()
	for _, exchange := range []bool{false, true} {
		fb = encodeTransportReply(1, 1, exchange, nil, nil, &Error{Code: CodeSourceUnavailable})
		rm, err = decodeTransportReply(fb.b[frameHeaderLen:])
		if err != nil || CodeOf(rm.err) != CodeSourceUnavailable || rm.exchange != exchange {
			t.Fatalf("error reply (exchange %v): %+v %v", exchange, rm, err)
		}
		fb.release()
	}
	fb = encodeTransportReply(1, 1, true, nil, []byte("MSA|AA"), nil)
	tr.Reset()
	unmarshal(t, fb.b[frameHeaderLen:], &tr)
	if string(tr.GetExchange().GetMessage()) != "MSA|AA" {
		t.Fatalf("exchange reply: %v", &tr)
	}
	fb.release()
}

func TestCodecHelloCancel(t *testing.T) {
	fb := encodeHello(&helloMsg{protocol: 2, maxFrame: MaxFrameBytes, operations: []string{"read", "search"}})
	var h pb.Hello
	unmarshal(t, fb.b[frameHeaderLen:], &h)
	if h.GetProtocolVersion() != 2 || h.GetMaxFrame() != MaxFrameBytes || len(h.GetOperations()) != 2 {
		t.Fatalf("Hello: %v", &h)
	}
	hm, err := decodeHello(fb.b[frameHeaderLen:])
	if err != nil || hm.protocol != 2 || hm.operations[1] != "search" {
		t.Fatalf("decoded hello: %+v %v", hm, err)
	}
	fb.release()
	fb = encodeCancel(77)
	var c pb.Cancel
	unmarshal(t, fb.b[frameHeaderLen:], &c)
	if id, err := decodeCancel(fb.b[frameHeaderLen:]); c.GetCallId() != 77 || id != 77 || err != nil {
		t.Fatalf("Cancel: %v %d %v", &c, id, err)
	}
	fb.release()
}

// TestFrameKindsMatchProto keeps the kind bytes and the proto's enum in
// step.
func TestFrameKindsMatchProto(t *testing.T) {
	for kind, want := range map[frameKind]pb.FrameKind{
		frameHello: pb.FrameKind_FRAME_KIND_HELLO, frameCall: pb.FrameKind_FRAME_KIND_CALL,
		frameCancel: pb.FrameKind_FRAME_KIND_CANCEL, frameResult: pb.FrameKind_FRAME_KIND_RESULT,
		frameTransportCall: pb.FrameKind_FRAME_KIND_TRANSPORT_CALL, frameTransportReply: pb.FrameKind_FRAME_KIND_TRANSPORT_REPLY,
	} {
		if int32(kind) != int32(want) {
			t.Errorf("kind %d, proto says %d", kind, want)
		}
	}
	for c := range codeNames {
		if pb.ErrorCode(codeToWire[c]) != codeToPB[ErrorCode(c)] {
			t.Errorf("%s: data plane code %d, control plane %v", ErrorCode(c), codeToWire[c], codeToPB[ErrorCode(c)])
		}
	}
}

// FuzzDecodeFrames: no input makes a decoder panic, and what decodes as a
// Call or a Result encodes back to a message that decodes the same.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(marshal(&testing.T{}, &pb.Call{CallId: 1, Op: &pb.Call_Search{Search: &pb.SearchRequest{ConnectionId: "c", Params: []*pb.Param{{Name: "a", Value: "b"}}}}}))
	f.Add(marshal(&testing.T{}, &pb.Result{CallId: 1, Records: [][]byte{[]byte("{}")}}))
	f.Add(marshal(&testing.T{}, &pb.TransportReply{CallId: 1, Reply: &pb.TransportReply_Http{Http: &pb.HTTPResponse{Status: 200}}}))
	f.Add([]byte{0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(marshal(&testing.T{}, &pb.Call{CallId: 2, Op: &pb.Call_MapEvent{MapEvent: &pb.MapEventRequest{ConnectionId: "c", Message: []byte("MSH|")}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeCall(b); err == nil && c.mapEvent != nil {
			fb := encodeMapEventCall(c.id, c.deadline, c.mapEvent)
			c2, err := decodeCall(fb.b[frameHeaderLen:])
			if err != nil || c2.mapEvent == nil || c2.mapEvent.ConnectionID != c.mapEvent.ConnectionID || !bytes.Equal(c2.mapEvent.Message, c.mapEvent.Message) {
				t.Fatalf("map_event call does not survive a round trip: %v", err)
			}
			fb.release()
		}
		_, _ = decodeHello(b)
		_, _ = decodeCancel(b)
		if tc, err := decodeTransportCall(b); err == nil && tc.http == nil && !tc.exchange {
			t.Fatalf("a transport call with nothing to serve decoded without error: %+v", tc)
		}
		_, _ = decodeTransportReply(b)
		if c, err := decodeCall(b); err == nil && (c.read != nil || c.search != nil) && c.prefetch == nil {
			fb := encodeCall(c.id, c.deadline, c.read, c.search, nil)
			c2, err := decodeCall(fb.b[frameHeaderLen:])
			if err != nil || c2.id != c.id || !reflect.DeepEqual(c2.read, c.read) || !reflect.DeepEqual(c2.search, c.search) {
				t.Fatalf("call does not survive a round trip: %+v / %+v, %v", c, c2, err)
			}
			fb.release()
		}
		if r := (&resultMsg{}); decodeResult(b, r) == nil && r.err == nil && !r.panicked {
			fb := encodeResult(r.id, nil, false, r.records, r.next, r.prefetchUsed)
			r2 := &resultMsg{}
			err := decodeResult(fb.b[frameHeaderLen:], r2)
			if err != nil || len(r2.records) != len(r.records) || r2.next != r.next {
				t.Fatalf("result does not survive a round trip: %v", err)
			}
			fb.release()
		}
	})
}
