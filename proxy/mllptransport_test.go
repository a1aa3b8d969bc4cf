package proxy

// The host's MLLP transport: the HL7 v2 connector in-process, served
// through the proxy against MLLP sources on 127.0.0.1 (the hl7v2 sandbox,
// and a source of faults built on it). The plugin boundary and the real
// peers (python-hl7, @medplum/hl7) are covered by cmd/ferry's HL7 test.
//
// Alone: go test -run MLLP -v ./proxy/

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/hl7v2"
	hl7sandbox "github.com/ferryhealth/ferry/connectors/hl7v2/sandbox"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/mllp"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/unified"
)

// fakeMLLP is an MLLP source on 127.0.0.1 whose behaviour the test sets:
// "ok" answers as the sandbox does; "hang" reads the query and never
// answers; "big" answers with a frame of 256 KiB; "close" closes the
// connection on reading a query; "ar" answers MSA AR (rejected: the
// system is down); "ae" answers MSA AE (the query refused).
type fakeMLLP struct {
	ln      net.Listener
	sb      *hl7sandbox.Server
	mode    atomic.Value // string
	queries atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newFakeMLLP(t *testing.T) *fakeMLLP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeMLLP{ln: ln, sb: hl7sandbox.New()}
	s.mode.Store("ok")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *fakeMLLP) stop() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeMLLP) set(mode string) { s.mode.Store(mode) }

func (s *fakeMLLP) url() string { return "mllp://" + s.ln.Addr().String() }

func (s *fakeMLLP) serve(c net.Conn) {
	defer c.Close()
	rd := mllp.NewReader(c, 1<<20)
	for {
		msg, err := rd.ReadFrame()
		if err != nil {
			return
		}
		s.queries.Add(1)
		var answer []byte
		switch s.mode.Load().(string) {
		case "hang":
			_, _ = io.Copy(io.Discard, c)
			return
		case "close":
			return
		case "slow":
			time.Sleep(400 * time.Millisecond)
			answer = s.sb.Answer(msg)
		case "big":
			answer = []byte("MSH|^~\\&|SBX||FERRY||20240101||RSP^K22^RSP_K21|R1|P|2.5\rZZZ|" + strings.Repeat("x", 256<<10))
		case "ar", "ae":
			code := strings.ToUpper(s.mode.Load().(string))
			m, _ := hl7v2.Parse(msg)
			answer = []byte("MSH|^~\\&|SBX||FERRY||20240101||RSP^K22^RSP_K21|R1|P|2.5\rMSA|" + code + "|" +
				m.Header().Value(10) + "\rQAK|" + m.Segment("QPD").Value(2) + "|" + code + "\rERR||QPD^1^3|207^Application internal error^HL70357|E")
		default:
			answer = s.sb.Answer(msg)
		}
		frame, err := mllp.AppendFrame(nil, answer)
		if err != nil {
			return
		}
		if _, err := c.Write(frame); err != nil {
			return
		}
	}
}

// mllpGateway serves connection "demo" (kind hl7v2) on src, with a 1 s
// deadline, a breaker that opens for 500 ms after three failures in a row,
// and a 64 KiB answer limit; connection "demo2" stays an HTTP (FHIR) one.
func mllpGateway(t *testing.T, src *fakeMLLP, extra ...func(cn map[string]any)) *fenv {
	t.Helper()
	cfgJSON := testConfig("http://127.0.0.1:1/fhir", func(c map[string]any) {
		c["plugins"] = append(c["plugins"].([]any), map[string]any{"kind": "hl7v2", "path": "/nonexistent", "sha256": sha("y")})
		c["limits"].(map[string]any)["max_upstream_body_bytes"] = 64 << 10
		c["clients"].([]any)[0].(map[string]any)["scopes"] = []string{config.ScopeRead, config.ScopePassthrough}
		cn := connCfg(c, 0)
		cn["connector"] = "hl7v2"
		cn["base_url"] = src.url()
		cn["timeout"] = "1s"
		cn["settings"] = map[string]any{"id_authority": map[string]any{"namespace": hl7sandbox.Namespace}}
		cn["breaker"] = map[string]any{"open_for": "500ms", "consecutive_failures": 3}
		for _, f := range extra {
			f(cn)
		}
	})
	cfg, probs := config.Parse(cfgJSON, "")
	if len(probs) > 0 {
		t.Fatalf("config: %v", probs)
	}
	ctx := context.Background()
	conns, err := NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New(), "hl7v2": hl7v2.New()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(ctx, Options{Config: cfg, ConfigHash: "cfg-hash", Connectors: conns,
		Audit: &auditlogtest.Recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeAPI(ln, nil) }()
	e := &fenv{base: "http://" + ln.Addr().String(), srv: srv, client: &http.Client{}}
	e.stop = func() {
		e.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
	t.Cleanup(e.stop)
	// Serving before the test goes on: a Shutdown that came before Serve
	// registered its listener would leave Serve running.
	for i := 0; ; i++ {
		resp, err := e.client.Get(e.base + "/v1/openapi.json")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatalf("gateway not serving: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return e
}

func TestMLLPSearchReadAndPage(t *testing.T) {
	src := newFakeMLLP(t)
	e := mllpGateway(t, src)
	body := func(path string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", e.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+keyDemo)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	var list unified.List[unified.Patient]
	if err := json.Unmarshal(body("/v1/demo/patients?name=okafor"), &list); err != nil || len(list.Data) != 2 || list.Data[0].ID != "SBX-1002" {
		t.Fatalf("search: %v %+v", err, list)
	}
	var p unified.Patient
	if err := json.Unmarshal(body("/v1/demo/patients/SBX-1005"), &p); err != nil || p.ID != "SBX-1005" || p.Source.ConnectionID != "demo" {
		t.Fatalf("read: %v %+v", err, p)
	}
	// Every patient, five at a time: continuation pointers sealed into
	// Ferry cursors.
	var ids []string
	path := "/v1/demo/patients?name=*&limit=5"
	for range 10 {
		list = unified.List[unified.Patient]{}
		if err := json.Unmarshal(body(path), &list); err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Data {
			ids = append(ids, p.ID)
		}
		if list.NextCursor == "" {
			break
		}
		path = "/v1/demo/patients?cursor=" + list.NextCursor
	}
	if want := hl7sandbox.New().MRNs(); strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("paged %v, want %v", ids, want)
	}
	// The wrong transport for the connection: a typed problem, no panic.
	r := e.get(t, "/v1/demo/passthrough/Patient/SBX-1001", time.Second)
	if r.status < 400 || r.code != unified.CodeUnsupported {
		t.Fatalf("passthrough on an MLLP connection: %d %s", r.status, r.code)
	}
}

func TestMLLPDeadlineHonoured(t *testing.T) {
	src := newFakeMLLP(t)
	src.set("hang")
	e := mllpGateway(t, src)
	r := e.get(t, "/v1/demo/patients/SBX-1001", 300*time.Millisecond, timeoutHeader, "300ms")
	expect(t, r, 504, unified.CodeUpstreamTimeout)
	if r.overshoot > 250*time.Millisecond {
		t.Errorf("answered %v after the deadline", r.overshoot)
	}
}

func TestMLLPOversizeAndRejectedAnswers(t *testing.T) {
	src := newFakeMLLP(t)
	e := mllpGateway(t, src)
	src.set("big")
	expect(t, e.get(t, "/v1/demo/patients/SBX-1001", time.Second), 502, unified.CodeUpstreamError)
	src.set("ae")
	expect(t, e.get(t, "/v1/demo/patients?name=okafor", time.Second), 502, unified.CodeUpstreamError)
	// The connection recovers on the next query.
	src.set("ok")
	expect(t, e.get(t, "/v1/demo/patients/SBX-1001", time.Second), 200, "")
	// AE is the source refusing a query: the source is up, and the breaker
	// does not count it.
	src.set("ae")
	for range 5 {
		e.get(t, "/v1/demo/patients?name=okafor", time.Second)
	}
	if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 0 {
		t.Fatalf("breaker %v after AE answers", st)
	}
}

func TestMLLPBreakerOpens(t *testing.T) {
	src := newFakeMLLP(t)
	e := mllpGateway(t, src)
	for _, mode := range []string{"ar", "close", "down"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "down" {
				src.stop()
			} else {
				src.set(mode)
			}
			var opened bool
			for i := 0; i < 10 && !opened; i++ {
				r := e.get(t, "/v1/demo/patients/SBX-1001", time.Second)
				if r.status < 500 {
					t.Fatalf("%s: got %d %s", mode, r.status, r.code)
				}
				opened = e.srv.tab.Load().connections["demo"].guard.State() != 0
			}
			if !opened {
				t.Fatalf("%s: the breaker did not open", mode)
			}
			before := src.queries.Load()
			r := e.get(t, "/v1/demo/patients/SBX-1001", time.Second)
			expect(t, r, 503, unified.CodeSourceUnavailable)
			if src.queries.Load() != before {
				t.Error("a query reached the source while the breaker was open")
			}
			if mode == "down" && r.served > 100*time.Millisecond {
				t.Errorf("open breaker answered in %v", r.served)
			}
			if mode != "down" {
				src.set("ok")
				time.Sleep(600 * time.Millisecond)
				expect(t, e.get(t, "/v1/demo/patients/SBX-1001", time.Second), 200, "")
			}
		})
	}
}

// testTransport is a transport to cn's source, as a request borrows it.
func testTransport(cn *connEntry) *source.Transport {
	tr := source.NewTransport(cn.source, cn.guard, &source.Record{}, "", false)
	return &tr
}

func TestMLLPExchangeOnHTTPConnection(t *testing.T) {
	src := newFakeMLLP(t)
	e := mllpGateway(t, src)
	tr := testTransport(e.srv.tab.Load().connections["demo2"])
	_, err := tr.Exchange(context.Background(), []byte("MSH|^~\\&|X"))
	if ce := (*connectors.Error)(nil); !errors.As(err, &ce) || ce.Code != connectors.CodeUnsupported {
		t.Fatalf("Exchange on an HTTP connection: %v", err)
	}
	tr = testTransport(e.srv.tab.Load().connections["demo"])
	if _, err := tr.Do(context.Background(), &connectors.HTTPRequest{Path: "Patient"}); connectors.CodeOf(err) != connectors.CodeUnsupported {
		t.Fatalf("Do on an MLLP connection: %v", err)
	}
	for _, msg := range [][]byte{nil, make([]byte, 65<<10)} {
		if _, err := tr.Exchange(context.Background(), msg); connectors.CodeOf(err) != connectors.CodeInternal {
			t.Fatalf("Exchange of %d bytes: %v", len(msg), err)
		}
	}
}

func TestMLLPEgressRefusesLoopbackUnlessAllowed(t *testing.T) {
	src := newFakeMLLP(t)
	e := mllpGateway(t, src, func(cn map[string]any) { cn["allow_private_network"] = false })
	expect(t, e.get(t, "/v1/demo/patients/SBX-1001", time.Second), 503, unified.CodeSourceUnavailable)
	if n := src.queries.Load(); n != 0 {
		t.Fatalf("%d queries reached a loopback source", n)
	}
}

// TestMLLPSChecksTheServer: an mllps:// source must present a certificate
// the host trusts; one that does not (here a self-signed one) is never
// sent a query, and the request fails as the source being unavailable.
func TestMLLPSChecksTheServer(t *testing.T) {
	var queried atomic.Bool
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { queried.Store(true) }))
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	src := newFakeMLLP(t)
	addr := strings.TrimPrefix(tlsSrv.URL, "https://")
	e := mllpGateway(t, src, func(cn map[string]any) { cn["base_url"] = "mllps://" + addr })
	expect(t, e.get(t, "/v1/demo/patients/SBX-1001", time.Second), 503, unified.CodeSourceUnavailable)
	if queried.Load() {
		t.Fatal("a query crossed an untrusted TLS connection")
	}
}

// TestMLLPQueueingIsNotTheSourceFailing: MLLP allows one query in flight,
// so requests queue for the connection. Those whose deadline passes in
// the queue are upstream_timeout for the client but do not count against
// the source: a slow source under load keeps its breaker closed.
func TestMLLPQueueingIsNotTheSourceFailing(t *testing.T) {
	src := newFakeMLLP(t)
	src.set("slow") // 400 ms an answer, under the connection's 1 s deadline
	e := mllpGateway(t, src)
	ok, timedOut := 0, 0
	replies := make([]reply, 8)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.get(t, "/v1/demo/patients/SBX-1001", time.Second)
		}()
	}
	wg.Wait()
	for _, r := range replies {
		switch {
		case r.status == 200:
			ok++
		case r.status == 504 && r.code == unified.CodeUpstreamTimeout:
			timedOut++
		default:
			t.Errorf("got %d %s", r.status, r.code)
		}
	}
	if ok == 0 || timedOut == 0 {
		t.Fatalf("%d answered, %d timed out: want both", ok, timedOut)
	}
	if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 0 {
		t.Fatalf("breaker %v after requests timed out queueing", st)
	}
}
