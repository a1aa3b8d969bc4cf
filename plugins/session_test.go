package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv1"
	"github.com/ferryhealth/ferry/unified"
)

var (
	unaryOnce sync.Once
	unaryPath string
	unarySum  []byte
	unaryErr  error
)

// unaryPlugin is the test plugin built to serve without Session, as a
// plugin built with an SDK older than the stream does.
func unaryPlugin(t *testing.T) (string, []byte) {
	t.Helper()
	path, _ := testPlugin(t) // for its temporary folder, removed by TestMain
	unaryOnce.Do(func() {
		unaryPath = filepath.Join(filepath.Dir(path), "testplugin-unary")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.unaryOnly=1", "-o", unaryPath, "./internal/testplugin").CombinedOutput()
		if err != nil {
			unaryErr = errors.New(string(out))
			return
		}
		b, err := os.ReadFile(unaryPath)
		if err != nil {
			unaryErr = err
			return
		}
		s := sha256.Sum256(b)
		unarySum = s[:]
	})
	if unaryErr != nil {
		t.Fatalf("build unary test plugin: %v", unaryErr)
	}
	return unaryPath, unarySum
}

// wireOf returns the running process's wire client.
func wireOf(t *testing.T, h *Host) *wireClient {
	t.Helper()
	_, l := h.instances["test"].snapshot()
	if l == nil {
		t.Fatal("not running")
	}
	return l.wire
}

func currentSession(w *wireClient) *hostSession {
	w.sessLock <- struct{}{}
	defer func() { <-w.sessLock }()
	return w.sess
}

func hanging(t *testing.T, h *Host) int {
	t.Helper()
	resp, err := read(t, h, "inflight", 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Hanging int `json:"hanging"`
	}
	if err := json.Unmarshal(resp.Record, &got); err != nil {
		t.Fatal(err)
	}
	return got.Hanging
}

// TestUnaryPluginFallback: a plugin that answers Session with Unimplemented
// is served over the unary RPCs and the broker's Transport, with the same
// behaviour.
func TestUnaryPluginFallback(t *testing.T) {
	path, sum := unaryPlugin(t)
	h := startHost(t, func(s *Spec) { s.Path, s.SHA256 = path, sum })
	waitReady(t, h)
	if w := wireOf(t, h); w.stream || currentSession(w) != nil {
		t.Fatal("a unary-only plugin got a Session")
	}
	resp, err := read(t, h, "echo", 5*time.Second, &fakeTransport{})
	if err != nil || !json.Valid(resp.Record) {
		t.Fatalf("echo: %v", err)
	}
	tr := &exchangeTransport{}
	if _, err := read(t, h, "exchange", 5*time.Second, tr); err != nil || string(tr.got) != `MSH|^~\&|PING` {
		t.Fatalf("exchange: %v (%q)", err, tr.got)
	}
	if _, err := read(t, h, "echo", 5*time.Second, &fakeTransport{err: &connectors.Error{Code: connectors.CodeCredentialsUnavailable}}); connectors.CodeOf(err) != connectors.CodeCredentialsUnavailable {
		t.Fatalf("host error: %v", err)
	}
	if _, err := read(t, h, "hang", 200*time.Millisecond, nil); connectors.CodeOf(err) != connectors.CodeUpstreamTimeout {
		t.Fatalf("hang: %v", err)
	}
	if _, err := read(t, h, "panic", 5*time.Second, nil); connectors.CodeOf(err) != connectors.CodeInternal {
		t.Fatalf("panic: %v", err)
	}
}

// tagTransport answers every Do with its own tag, so a call that got another
// call's transport shows.
type tagTransport struct{ tag string }

func (t tagTransport) Do(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	time.Sleep(time.Millisecond) // keep the calls overlapping
	return &connectors.HTTPResponse{Status: 200, Body: []byte(t.tag)}, nil
}

// TestConcurrentCallsShareOneStream: 100 calls in flight at once, each with
// its own transport, are multiplexed on the process's one Session stream
// and each gets its own answer.
func TestConcurrentCallsShareOneStream(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	w := wireOf(t, h)
	if !w.stream {
		t.Fatal("no Session with a current plugin")
	}
	sess := currentSession(w)
	c, _ := h.Connector("test")
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag := fmt.Sprintf("call-%d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if i%2 == 1 {
				// Searches alongside the reads.
				resp, err := c.Search(ctx, &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 3})
				if err != nil || len(resp.Records) != 3 {
					errs <- fmt.Errorf("search %d: %v", i, err)
				}
				return
			}
			resp, err := c.Read(ctx, &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "echo", Transport: tagTransport{tag}})
			if err != nil {
				errs <- fmt.Errorf("read %d: %v", i, err)
				return
			}
			var got struct {
				Body string `json:"body"`
			}
			if err := json.Unmarshal(resp.Record, &got); err != nil || got.Body != tag {
				errs <- fmt.Errorf("read %d got %s (%v)", i, resp.Record, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if currentSession(w) != sess || sess.ended() {
		t.Fatal("the calls did not share the one stream")
	}
}

// TestCancelReachesThePlugin: a call without a deadline whose context is
// cancelled returns at once, and the plugin's side of it ends too (Cancel).
func TestCancelReachesThePlugin(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	c, _ := h.Connector("test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(ctx, &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "hang"})
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for hanging(t, h) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the plugin")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if connectors.CodeOf(err) != connectors.CodeUpstreamTimeout {
			t.Fatalf("cancelled call: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a cancelled call did not return")
	}
	for hanging(t, h) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the plugin kept serving a cancelled call")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCrashFailsEveryPendingCall: when the process dies, every call waiting
// on its stream fails as a plugin failure, and the restarted process serves
// on a new stream.
func TestCrashFailsEveryPendingCall(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	pid := h.PID("test")
	old := currentSession(wireOf(t, h))
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() { _, err := read(t, h, "hang", 10*time.Second, nil); errs <- err }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for hanging(t, h) != n {
		if time.Now().After(deadline) {
			t.Fatal("the calls never reached the plugin")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; !errors.Is(err, ErrPluginFailed) {
			t.Fatalf("pending call: %v", err)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("pending calls took %v to fail", time.Since(start))
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, err := read(t, h, "ok", time.Second, nil); err == nil && h.PID("test") != pid {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no recovery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := wireOf(t, h)
	if s := currentSession(w); !w.stream || s == nil || s == old || s.ended() {
		t.Fatal("the restarted process has no stream of its own")
	}
}

// TestSessionReopensAfterBreak: a stream that ends while the process lives
// on (the plugin broke the protocol, say) fails the calls waiting on it, and
// the next call opens a new stream on the same process.
func TestSessionReopensAfterBreak(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	pid := h.PID("test")
	w := wireOf(t, h)
	old := currentSession(w)
	done := make(chan error, 1)
	go func() { _, err := read(t, h, "hang", 10*time.Second, nil); done <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for hanging(t, h) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the plugin")
		}
		time.Sleep(10 * time.Millisecond)
	}
	old.cancel()
	if err := <-done; !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("call on the broken stream: %v", err)
	}
	if _, err := read(t, h, "echo", 5*time.Second, &fakeTransport{}); err != nil {
		t.Fatalf("after the break: %v", err)
	}
	if s := currentSession(w); s == old || s.ended() || h.PID("test") != pid {
		t.Fatal("no new stream on the same process")
	}
}

// TestSessionRefusesUnknownCall: on the stream as over the broker, a
// transport call is served only for a call in flight.
func TestSessionRefusesUnknownCall(t *testing.T) {
	calls := &callRegistry{}
	// No sender: the test takes each reply off the send queue itself.
	s := &hostSession{calls: calls, out: make(chan *pb.HostFrame, sendQueue), done: make(chan struct{}), maxFrame: MaxMessageBytes}
	id, _ := calls.open(context.Background(), &exchangeTransport{})
	last := func() *pb.TransportReply {
		select {
		case f := <-s.out:
			return f.GetTransportReply()
		default:
			t.Fatal("no reply queued")
			return nil
		}
	}

	s.serveTransport(&pb.TransportCall{CallId: id + 1, Seq: 1, Request: &pb.TransportCall_Http{Http: &pb.HTTPRequest{Path: "Patient/1"}}})
	if r := last(); r.GetSeq() != 1 || r.GetHttp().GetError().GetCode() != pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("forged call id served: %v", r)
	}
	s.serveTransport(&pb.TransportCall{CallId: id, Seq: 2, Request: &pb.TransportCall_Http{Http: &pb.HTTPRequest{Path: "Patient/1"}}})
	if r := last(); r.GetCallId() != id || r.GetSeq() != 2 || r.GetHttp().GetStatus() != 200 {
		t.Fatalf("call in flight refused: %v", r)
	}
	s.serveTransport(&pb.TransportCall{CallId: id, Seq: 3, Request: &pb.TransportCall_Exchange{Exchange: &pb.ExchangeRequest{Message: []byte("MSH|")}}})
	if r := last(); string(r.GetExchange().GetMessage()) != "ACK to MSH|" {
		t.Fatalf("exchange: %v", r)
	}
	calls.close(id)
	s.serveTransport(&pb.TransportCall{CallId: id, Seq: 4, Request: &pb.TransportCall_Exchange{Exchange: &pb.ExchangeRequest{Message: []byte("MSH|")}}})
	if r := last(); r.GetExchange().GetError().GetCode() != pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT {
		t.Fatalf("finished call id served: %v", r)
	}
}

// TestFrameLimit: without the plugin's word, the host keeps to gRPC's
// default 4 MiB; it never goes past its own limit.
func TestFrameLimit(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want int
	}{
		{nil, connectors.DefaultMaxFrame},
		{[]string{"x"}, connectors.DefaultMaxFrame},
		{[]string{"1024"}, connectors.DefaultMaxFrame},
		{[]string{"67108864"}, MaxMessageBytes},
		{[]string{"1099511627776"}, MaxMessageBytes},
		{[]string{"8388608", "9"}, connectors.DefaultMaxFrame},
	} {
		if got := frameLimit(c.in); got != c.want {
			t.Errorf("frameLimit(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
