//go:build unix

package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// planeConn is a connector whose behaviour the record id picks: "echo"
// makes one source request and answers with its body, "twice" two,
// "exchange" one message exchange, "hang" waits for its context, "panic"
// panics, "big" answers over the frame limit.
type planeConn struct{ Connector }

func (planeConn) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	get := func(path string) (string, error) {
		resp, err := req.Transport.Do(ctx, &HTTPRequest{Method: "GET", Path: path, Header: []Param{{"Accept", "application/fhir+json"}}})
		if err != nil {
			return "", err
		}
		return string(resp.Body), nil
	}
	record := func(body string) (*ReadResponse, error) {
		b, _ := json.Marshal(map[string]string{"id": req.ID, "body": body})
		return &ReadResponse{Record: b}, nil
	}
	switch req.ID {
	case "echo":
		body, err := get("Patient/echo")
		if err != nil {
			return nil, err
		}
		return record(body)
	case "twice":
		a, err := get("Patient/twice")
		if err != nil {
			return nil, err
		}
		b, err := get("Medication/m1")
		if err != nil {
			return nil, err
		}
		return record(a + "+" + b)
	case "exchange":
		ex, ok := req.Transport.(Exchanger)
		if !ok {
			return nil, Errorf(CodeInternal, "no exchanger")
		}
		msg, err := ex.Exchange(ctx, []byte("QBP"))
		if err != nil {
			return nil, err
		}
		return record(string(msg))
	case "hang":
		<-ctx.Done()
		return nil, &Error{Code: CodeUpstreamTimeout, Err: ctx.Err()}
	case "panic":
		panic("canary Jane Doe")
	case "big":
		return &ReadResponse{Record: json.RawMessage(`"` + strings.Repeat("x", MaxFrameBytes) + `"`)}, nil
	}
	return nil, &Error{Code: CodeNotFound}
}

func (planeConn) Search(ctx context.Context, req *SearchRequest) (*SearchResponse, error) {
	resp, err := req.Transport.Do(ctx, &HTTPRequest{Method: "GET", Path: "Observation", Query: []Param{{"patient", req.Params["patient_id"]}}})
	if err != nil {
		return nil, err
	}
	var recs []json.RawMessage
	for i := 0; i < req.Limit; i++ {
		recs = append(recs, json.RawMessage(fmt.Sprintf(`{"id":"o%d","n":%d}`, i, len(resp.Body))))
	}
	return &SearchResponse{Records: recs, NextPageToken: "p2"}, nil
}

// source is the host side's Transport: it answers every request with its
// path and counts them.
type source struct {
	requests atomic.Int64
	fail     error
}

func (s *source) Do(_ context.Context, req *HTTPRequest) (*HTTPResponse, error) {
	s.requests.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return &HTTPResponse{Status: 200, Body: []byte("src:" + req.Path)}, nil
}

func (s *source) Exchange(_ context.Context, msg []byte) ([]byte, error) {
	s.requests.Add(1)
	return append([]byte("RSP to "), msg...), nil
}

// plane starts both ends over a real socketpair.
func plane(t *testing.T, impl Connector) (*HostConn, <-chan error) {
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
	served := make(chan error, 1)
	go func() { served <- ServeDataPlane(pc, impl) }()
	h := NewHostConn(host)
	t.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, ops, err := h.WaitHello(ctx)
	if err != nil || v != ProtocolVersion || strings.Join(ops, ",") != "read,search" {
		t.Fatalf("hello: v%d %v %v", v, ops, err)
	}
	return h, served
}

func readRecord(t *testing.T, h *HostConn, ctx context.Context, id string, tr Transport, pre *Prefetched) (map[string]string, CallInfo, error) {
	t.Helper()
	resp, info, err := h.Read(ctx, &ReadRequest{ConnectionID: "c", Resource: unified.Patients, ID: id, Transport: tr}, pre)
	if err != nil {
		return nil, info, err
	}
	defer resp.Release()
	var m map[string]string
	if err := json.Unmarshal(resp.Record, &m); err != nil {
		t.Fatalf("record %q: %v", resp.Record, err)
	}
	return m, info, nil
}

func TestDataPlane(t *testing.T) {
	h, _ := plane(t, planeConn{})
	ctx := context.Background()
	src := &source{}

	// In-band: the connector's request reaches the call's Transport.
	m, info, err := readRecord(t, h, ctx, "echo", src, nil)
	if err != nil || m["body"] != "src:Patient/echo" || info.PrefetchUsed || src.requests.Load() != 1 {
		t.Fatalf("in-band read: %v %+v %v (%d requests)", m, info, err, src.requests.Load())
	}

	// Prefetched: the same request made by the host beforehand answers the
	// connector without a round trip; a second request goes in-band.
	pre := &Prefetched{
		Request:  &HTTPRequest{Method: "GET", Path: "Patient/twice", Header: []Param{{"Accept", "application/fhir+json"}}},
		Response: &HTTPResponse{Status: 200, Body: []byte("prefetched")},
	}
	src.requests.Store(0)
	m, info, err = readRecord(t, h, ctx, "twice", src, pre)
	if err != nil || m["body"] != "prefetched+src:Medication/m1" || !info.PrefetchUsed || src.requests.Load() != 1 {
		t.Fatalf("prefetched read: %v %+v %v (%d in-band requests)", m, info, err, src.requests.Load())
	}

	// A prefetched request that differs from the connector's (here a
	// header) is not used: the connector's own request goes in-band.
	pre.Request = &HTTPRequest{Method: "GET", Path: "Patient/echo", Header: []Param{{"Accept", "application/json"}}}
	src.requests.Store(0)
	m, info, err = readRecord(t, h, ctx, "echo", src, pre)
	if err != nil || m["body"] != "src:Patient/echo" || info.PrefetchUsed || src.requests.Load() != 1 {
		t.Fatalf("mismatched prefetch: %v %+v %v", m, info, err)
	}

	// Message exchanges go in-band too.
	if m, _, err = readRecord(t, h, ctx, "exchange", src, nil); err != nil || m["body"] != "RSP to QBP" {
		t.Fatalf("exchange: %v %v", m, err)
	}

	// The host transport's error reaches the connector as its code.
	_, _, err = readRecord(t, h, ctx, "echo", &source{fail: &Error{Code: CodeCredentialsUnavailable}}, nil)
	if CodeOf(err) != CodeCredentialsUnavailable {
		t.Fatalf("transport error: %v", err)
	}

	// A search's records arrive as the connector encoded them.
	resp, _, err := h.Search(ctx, &SearchRequest{ConnectionID: "c", Resource: unified.Observations, Limit: 3,
		Params: map[string]string{"patient_id": "p-1"}, Transport: src}, nil)
	if err != nil || len(resp.Records) != 3 || string(resp.Records[2]) != `{"id":"o2","n":15}` || resp.NextPageToken != "p2" {
		t.Fatalf("search: %+v %v", resp, err)
	}
	resp.Release()

	// Errors cross as code and parameter, never text.
	if _, _, err = readRecord(t, h, ctx, "missing", src, nil); CodeOf(err) != CodeNotFound {
		t.Fatalf("not found: %v", err)
	}
	_, info, err = readRecord(t, h, ctx, "panic", src, nil)
	if CodeOf(err) != CodeInternal || !info.Panicked || strings.Contains(fmt.Sprint(err), "Jane") {
		t.Fatalf("panic: %+v %v", info, err)
	}

	// An answer over the frame limit fails its call, not the data plane.
	if _, _, err = readRecord(t, h, ctx, "big", src, nil); CodeOf(err) != CodeInternal {
		t.Fatalf("big: %v", err)
	}

	// The deadline travels; a call past it returns at once and cancels.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	start := time.Now()
	_, _, err = readRecord(t, h, dctx, "hang", src, nil)
	cancel()
	// Either end may notice the deadline first: the host's context, or the
	// plugin's (the Call carries it), which then answers upstream_timeout.
	if !errors.Is(err, context.DeadlineExceeded) && CodeOf(err) != CodeUpstreamTimeout || time.Since(start) > time.Second {
		t.Fatalf("hang: %v after %v", err, time.Since(start))
	}
	if _, _, err = readRecord(t, h, ctx, "echo", src, nil); err != nil {
		t.Fatalf("after all that the data plane is broken: %v", err)
	}
}

// TestDataPlaneConcurrent: many calls in flight on one data plane each get
// their own answer, with their own source requests.
func TestDataPlaneConcurrent(t *testing.T) {
	h, _ := plane(t, planeConn{})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &source{}
			id := "echo"
			if i%2 == 1 {
				id = "twice"
			}
			m, _, err := readRecord(t, h, context.Background(), id, src, nil)
			want := "src:Patient/echo"
			if id == "twice" {
				want = "src:Patient/twice+src:Medication/m1"
			}
			if err != nil || m["body"] != want {
				errs <- fmt.Errorf("call %d: %v %v", i, m, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTransportCallBinding: a source request naming a call that is not in
// flight is refused, so a plugin cannot reach a source outside a request.
func TestTransportCallBinding(t *testing.T) {
	host, pf, err := DataPlanePair()
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := net.FileConn(pf)
	pf.Close()
	h := NewHostConn(host)
	defer h.Close()
	// Play a rogue plugin by hand.
	w := newFrameWriter(pc)
	defer w.close()
	r := newFrameReader(pc, MaxFrameBytes)
	ctx := context.Background()
	if err := w.send(ctx, frameTransportCall, encodeTransportCall(999, 1, &HTTPRequest{Path: "Patient/x"}, nil)); err != nil {
		t.Fatal(err)
	}
	kind, fb, err := r.next()
	if err != nil || kind != frameTransportReply {
		t.Fatalf("reply: %d %v", kind, err)
	}
	m, err := decodeTransportReply(fb.b)
	if err != nil || CodeOf(m.err) != CodeInvalidArgument || m.err.(*Error).Param != "call_id" {
		t.Fatalf("stray transport call: %+v %v", m, err)
	}
	fb.release()
}

// TestPluginGone: when the plugin's end goes away, calls in flight and
// later calls fail with ErrPluginGone, at once.
func TestPluginGone(t *testing.T) {
	host, pf, err := DataPlanePair()
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := net.FileConn(pf)
	pf.Close()
	go func() { _ = ServeDataPlane(pc, planeConn{}) }()
	h := NewHostConn(host)
	defer h.Close()
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Read(context.Background(), &ReadRequest{ID: "hang", Transport: &source{}}, nil)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	pc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrPluginGone) {
			t.Fatalf("in flight: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call in flight outlived its data plane")
	}
	if _, _, err := h.Read(context.Background(), &ReadRequest{ID: "echo", Transport: &source{}}, nil); !errors.Is(err, ErrPluginGone) {
		t.Fatalf("after: %v", err)
	}
}

// TestMalformedFrameEndsDataPlane: a frame over the limit, or one that does
// not parse, ends the data plane instead of being half-read.
func TestMalformedFrameEndsDataPlane(t *testing.T) {
	// A rogue plugin's frames that would cost the host: a Result of more
	// records than any page has, a source request of a megabyte, and one
	// with nothing in it (which, served, would hand a nil request to the
	// source transport).
	tooMany := make([]json.RawMessage, maxRecords+1)
	for i := range tooMany {
		tooMany[i] = json.RawMessage{}
	}
	framed := func(kind frameKind, fb *frameBuf) []byte {
		n := len(fb.b) - 4
		fb.b[0], fb.b[1], fb.b[2], fb.b[3], fb.b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n), byte(kind)
		return fb.b
	}
	hugeCall := &HTTPRequest{Path: "Patient/x", Body: make([]byte, maxTransportCallBytes)}
	for name, frame := range map[string][]byte{
		"over the limit":            {0x7f, 0xff, 0xff, 0xff, byte(frameResult)},
		"empty":                     {0, 0, 0, 0, 0},
		"garbage result":            {0, 0, 0, 3, byte(frameResult), 0x0a, 0xff},
		"unknown kind":              {0, 0, 0, 1, 99},
		"result of too many":        framed(frameResult, encodeResult(1, nil, false, tooMany, "", false)),
		"transport call of nothing": {0, 0, 0, 3, byte(frameTransportCall), 0x08, 0x01},
		"transport call too large":  framed(frameTransportCall, encodeTransportCall(1, 1, hugeCall, nil)),
	} {
		t.Run(name, func(t *testing.T) {
			host, pf, err := DataPlanePair()
			if err != nil {
				t.Fatal(err)
			}
			pc, _ := net.FileConn(pf)
			pf.Close()
			defer pc.Close()
			h := NewHostConn(host)
			defer h.Close()
			if _, err := pc.Write(frame); err != nil {
				t.Fatal(err)
			}
			select {
			case <-h.Done():
				if h.Err() == nil {
					t.Fatal("no reason given")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the data plane survived a broken frame")
			}
		})
	}
}
