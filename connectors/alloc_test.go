//go:build unix

package connectors

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// The plugin's share of a request's allocations has a budget: the issue's
// is 30 per read for the whole plugin, of which the FHIR connector's
// mapping of a Patient takes at most 15 (connectors/fhir pins that). The
// data plane's own share is held here, on the plugin's end, and on the
// host's end (HostConn) below.
const (
	pluginEndAllocBudget = 12 // per read with a prefetched answer: decode, context, goroutine, transport, result
	hostEndAllocBudget   = 5  // per read: the call, its result, the response
)

// prefetchConn is a connector whose read asks for the request the host
// prefetched and answers a fixed record: what remains is the data plane.
type prefetchConn struct{ Connector }

var fixedRecord = json.RawMessage(`{"id":"p-1","source":{"connection_id":"c","system":"fhir","source_id":"p-1"}}`)

var prefetchRequest = &HTTPRequest{Method: "GET", Path: "Patient/p-1", Header: []Param{{"Accept", "application/fhir+json"}}}

func (prefetchConn) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	resp, err := req.Transport.Do(ctx, prefetchRequest)
	if err != nil || resp.Status != 200 {
		return nil, &Error{Code: CodeUpstream}
	}
	return &ReadResponse{Record: fixedRecord}, nil
}

// TestPluginEndAllocs plays the host with pre-encoded frames (no
// allocation of its own) and counts what the plugin's end allocates per
// read.
func TestPluginEndAllocs(t *testing.T) {
	host, pf, err := DataPlanePair()
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := net.FileConn(pf)
	pf.Close()
	go func() { _ = ServeDataPlane(pc, prefetchConn{}) }()
	defer host.Close()
	r := newFrameReader(host, MaxFrameBytes)
	if kind, _, err := r.next(); err != nil || kind != frameHello {
		t.Fatalf("hello: %v", err)
	}
	body := make([]byte, 3500)
	// A call has a deadline, as every request the host sends does.
	call := encodeCall(1, time.Now().Add(time.Hour).UnixNano(), &ReadRequest{ConnectionID: "c", Resource: unified.Patients, ID: "p-1"}, nil,
		&Prefetched{Request: prefetchRequest, Response: &HTTPResponse{Status: 200, Header: []Param{{"Content-Type", "application/fhir+json"}}, Body: body}})
	n := len(call.b) - 4
	call.b[0], call.b[1], call.b[2], call.b[3], call.b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n), byte(frameCall)
	roundTrip := func() {
		if _, err := host.Write(call.b); err != nil {
			t.Fatal(err)
		}
		kind, fb, err := r.next()
		if err != nil || kind != frameResult {
			t.Fatalf("result: %d %v", kind, err)
		}
		fb.release()
	}
	roundTrip()
	allocs := testing.AllocsPerRun(500, roundTrip)
	t.Logf("plugin end: %.1f allocations per read (budget %d)", allocs, pluginEndAllocBudget)
	if !raceEnabled && allocs > pluginEndAllocBudget {
		t.Errorf("the plugin's end of the data plane allocates %.1f times per read, over its budget of %d", allocs, pluginEndAllocBudget)
	}
}

// TestHostEndAllocs plays the plugin with a pre-encoded Result and counts
// what HostConn allocates per read.
func TestHostEndAllocs(t *testing.T) {
	hc, pf, err := DataPlanePair()
	if err != nil {
		t.Fatal(err)
	}
	pc, _ := net.FileConn(pf)
	pf.Close()
	defer pc.Close()
	h := NewHostConn(hc)
	defer h.Close()
	// The plugin: answers every Call with the same Result, by id.
	go func() {
		r := newFrameReader(pc, MaxFrameBytes)
		w := newFrameWriter(pc)
		defer w.close()
		for {
			kind, fb, err := r.next()
			if err != nil {
				return
			}
			if kind == frameCall {
				id, _ := decodeCancel(fb.b) // a Call's field 1 is its id, like a Cancel's
				_ = w.send(context.Background(), frameResult, encodeResult(id, nil, false, []json.RawMessage{fixedRecord}, "", true))
			}
			fb.release()
		}
	}()
	ctx := context.Background()
	req := &ReadRequest{ConnectionID: "c", Resource: unified.Patients, ID: "p-1"}
	pre := &Prefetched{Request: prefetchRequest, Response: &HTTPResponse{Status: 200, Body: make([]byte, 3500)}}
	read := func() {
		resp, _, err := h.Read(ctx, req, pre)
		if err != nil {
			t.Fatal(err)
		}
		resp.Release()
	}
	read()
	allocs := testing.AllocsPerRun(500, read)
	t.Logf("host end: %.1f allocations per read (budget %d)", allocs, hostEndAllocBudget)
	if !raceEnabled && allocs > hostEndAllocBudget {
		t.Errorf("HostConn allocates %.1f times per read, over its budget of %d", allocs, hostEndAllocBudget)
	}
}
