package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// wireOf returns the running process's wire client.
func wireOf(t *testing.T, h *Host) *wireClient {
	t.Helper()
	_, l := h.instances["test"].snapshot()
	if l == nil {
		t.Fatal("not running")
	}
	return l.wire
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

func waitHanging(t *testing.T, h *Host, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for hanging(t, h) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin never had %d calls hanging", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tagTransport answers every Do with its own tag, so a call that got another
// call's transport shows.
type tagTransport struct{ tag string }

func (t tagTransport) Do(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	time.Sleep(time.Millisecond) // keep the calls overlapping
	return &connectors.HTTPResponse{Status: 200, Body: []byte(t.tag)}, nil
}

// TestConcurrentCallsShareOneDataPlane: 100 calls in flight at once, each
// with its own transport, are multiplexed on the process's one data plane
// and each gets its own answer.
func TestConcurrentCallsShareOneDataPlane(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	conn := wireOf(t, h).conn
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
			defer resp.Release()
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
	if wireOf(t, h).conn != conn || conn.Err() != nil {
		t.Fatal("the calls did not share the one data plane")
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
	waitHanging(t, h, 1)
	cancel()
	select {
	case err := <-done:
		if connectors.CodeOf(err) != connectors.CodeUpstreamTimeout {
			t.Fatalf("cancelled call: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a cancelled call did not return")
	}
	waitHanging(t, h, 0)
}

// TestCrashFailsEveryPendingCall: when the process dies, every call waiting
// on its data plane fails as a plugin failure, and the restarted process
// serves on a data plane of its own.
func TestCrashFailsEveryPendingCall(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	pid := h.PID("test")
	old := wireOf(t, h).conn
	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() { _, err := read(t, h, "hang", 10*time.Second, nil); errs <- err }()
	}
	waitHanging(t, h, n)
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
	waitNewProcess(t, h, pid)
	if c := wireOf(t, h).conn; c == old || c.Err() != nil {
		t.Fatal("the restarted process has no data plane of its own")
	}
}

func waitNewProcess(t *testing.T, h *Host, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := read(t, h, "ok", time.Second, nil); err == nil && h.PID("test") != pid {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("no recovery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrokenDataPlaneReplacesThePlugin: a data plane that ends while the
// process lives on (the plugin broke the protocol, say) fails the calls
// waiting on it, and the supervisor replaces the process: a process
// without its data plane can serve nothing.
func TestBrokenDataPlaneReplacesThePlugin(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	pid := h.PID("test")
	done := make(chan error, 1)
	go func() { _, err := read(t, h, "hang", 10*time.Second, nil); done <- err }()
	waitHanging(t, h, 1)
	_ = wireOf(t, h).conn.Close()
	if err := <-done; !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("call on the broken data plane: %v", err)
	}
	waitNewProcess(t, h, pid)
}

// TestOldProtocolRefused: a plugin built for connector protocol v1 is
// refused at the handshake, with an error naming both versions.
func TestOldProtocolRefused(t *testing.T) {
	path, _ := testPlugin(t) // for its temporary folder, removed by TestMain
	old := filepath.Join(filepath.Dir(path), "testplugin-v1")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.oldProtocol=1", "-o", old, "./internal/testplugin").CombinedOutput(); err != nil {
		t.Fatalf("build: %s", out)
	}
	b, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	var log syncBuffer
	h, err := NewHost([]Spec{{Kind: "test", Path: old, SHA256: sum[:]}},
		Options{MinBackoff: time.Hour, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	defer h.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "plugin failed to start") {
		if time.Now().After(deadline) {
			t.Fatalf("no start failure logged: %s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h.Ready() {
		t.Fatal("a protocol v1 plugin is serving")
	}
	if want := fmt.Sprintf("speaks connector protocol v1, this host speaks v%d", connectors.ProtocolVersion); !strings.Contains(log.String(), want) {
		t.Fatalf("the refusal does not name both versions (%q): %s", want, log.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTemplatePrefetch: a connection whose connector describes its read
// request gets it made by the host before the call: the connector's own
// request is answered from it, with no source request in-band; a read
// whose connector asks for nothing wastes the prefetch and is counted; a
// prefetch the source refuses is the answer, and the plugin is not called.
func TestTemplatePrefetch(t *testing.T) {
	h := startHost(t, func(s *Spec) { s.Connections[0].Settings = json.RawMessage(`{"templates":true}`) })
	waitReady(t, h)
	st := h.Stats()
	tr := &fakeTransport{}
	resp, err := read(t, h, "echo", 5*time.Second, tr)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(resp.Record, &got); err != nil || got.Body != "hello from Patient/echo" {
		t.Fatalf("echo: %s %v", resp.Record, err)
	}
	resp.Release()
	if len(tr.seen) != 1 || tr.seen[0].Path != "Patient/echo" || len(tr.seen[0].Query) != 1 || st.Prefetched.Load() != 1 || st.PrefetchMissed.Load() != 0 {
		t.Fatalf("prefetch: %d source requests %+v, stats %d/%d", len(tr.seen), tr.seen, st.Prefetched.Load(), st.PrefetchMissed.Load())
	}
	if _, err := read(t, h, "ok", 5*time.Second, &fakeTransport{}); err != nil || st.PrefetchMissed.Load() != 1 {
		t.Fatalf("unused prefetch: %v, missed %d", err, st.PrefetchMissed.Load())
	}
	_, err = read(t, h, "echo", 5*time.Second, &fakeTransport{err: &connectors.Error{Code: connectors.CodeSourceUnavailable}})
	if connectors.CodeOf(err) != connectors.CodeSourceUnavailable || st.Prefetched.Load() != 2 {
		t.Fatalf("refused prefetch: %v, prefetched %d", err, st.Prefetched.Load())
	}
}

// TestTemplatesShared: connections whose templates are the same share one
// copy (a node may serve ten thousand FHIR connections with the same
// settings); connections whose templates differ keep their own.
func TestTemplatesShared(t *testing.T) {
	h := startHost(t, func(s *Spec) {
		s.Connections = []Connection{
			{ID: "a", Settings: json.RawMessage(`{"templates":true}`)},
			{ID: "b", Settings: json.RawMessage(`{"templates":true}`)},
			{ID: "c", Settings: json.RawMessage(`{}`)},
		}
	})
	waitReady(t, h)
	w := wireOf(t, h)
	tpls := *w.templates.Load()
	a, b := tpls["a"], tpls["b"]
	if len(a) == 0 || len(b) == 0 || &a[0] != &b[0] {
		t.Fatalf("identical templates are not shared: %p %p", a, b)
	}
	if len(tpls["c"]) != 0 {
		t.Fatalf("a connection without templates got %d", len(tpls["c"]))
	}
	if tpl := w.template("a", unified.Patients); tpl == nil || tpl.Read == nil || tpl.Read.Path != "Patient/{id}" {
		t.Fatalf("template of a: %+v", tpl)
	}
}
