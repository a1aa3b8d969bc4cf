package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
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

// These tests run a real plugin process: internal/testplugin, built once
// into a temporary folder. Run them alone with `go test ./plugins/`.

var (
	buildOnce  sync.Once
	pluginPath string
	pluginSum  []byte
	buildErr   error
)

func testPlugin(t *testing.T) (string, []byte) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-testplugin")
		if err != nil {
			buildErr = err
			return
		}
		pluginPath = filepath.Join(dir, "testplugin")
		out, err := exec.Command("go", "build", "-o", pluginPath, "./internal/testplugin").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
			return
		}
		b, err := os.ReadFile(pluginPath)
		if err != nil {
			buildErr = err
			return
		}
		s := sha256.Sum256(b)
		pluginSum = s[:]
	})
	if buildErr != nil {
		t.Fatalf("build test plugin: %v", buildErr)
	}
	return pluginPath, pluginSum
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pluginPath != "" {
		os.RemoveAll(filepath.Dir(pluginPath))
	}
	os.Exit(code)
}

func startHost(t *testing.T, mutate func(*Spec)) *Host {
	t.Helper()
	path, sum := testPlugin(t)
	spec := Spec{Kind: "test", Path: path, SHA256: sum, Connections: []Connection{{ID: "c1", Settings: json.RawMessage(`{}`)}}}
	if mutate != nil {
		mutate(&spec)
	}
	h, err := NewHost([]Spec{spec}, Options{MinBackoff: 50 * time.Millisecond, StableAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(h.Close)
	return h
}

func waitReady(t *testing.T, h *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.WaitReady(ctx); err != nil {
		t.Fatalf("plugin not ready: %v", err)
	}
}

func read(t *testing.T, h *Host, id string, timeout time.Duration, tr connectors.Transport) (*connectors.ReadResponse, error) {
	t.Helper()
	c, ok := h.Connector("test")
	if !ok {
		t.Fatal("no connector")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Read(ctx, &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: id, Transport: tr})
}

// fakeTransport stands in for the proxy's transport: the host's broker
// plumbing is what is under test here.
type fakeTransport struct {
	mu   sync.Mutex
	seen []*connectors.HTTPRequest
	err  error
}

func (f *fakeTransport) Do(_ context.Context, req *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, req)
	if f.err != nil {
		return nil, f.err
	}
	return &connectors.HTTPResponse{Status: 200, Body: []byte("hello from " + req.Path)}, nil
}

func TestReadThroughPluginAndTransport(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	if !h.Ready() {
		t.Fatal("Ready false after WaitReady")
	}
	meta, ok := h.Metadata("test")
	if !ok || meta.Kind != "test" || len(meta.Resources) != 1 {
		t.Fatalf("metadata: %+v", meta)
	}

	tr := &fakeTransport{}
	resp, err := read(t, h, "echo", 5*time.Second, tr)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	if err := json.Unmarshal(resp.Record, &got); err != nil || got.Status != 200 || got.Body != "hello from Patient/echo" {
		t.Fatalf("echo: %s %v", resp.Record, err)
	}
	if len(tr.seen) != 1 || tr.seen[0].Query[0] != (connectors.Param{Name: "q", Value: "1"}) {
		t.Fatalf("transport saw %+v", tr.seen)
	}
}

func TestHostTransportErrorWins(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	// The host's transport fails with credentials_unavailable; whatever the
	// plugin reports, the client must see the host's own verdict.
	tr := &fakeTransport{err: &connectors.Error{Code: connectors.CodeCredentialsUnavailable}}
	_, err := read(t, h, "echo", 5*time.Second, tr)
	if connectors.CodeOf(err) != connectors.CodeCredentialsUnavailable {
		t.Fatalf("got %v", err)
	}
}

func TestPluginGetsNoHostEnvironment(t *testing.T) {
	t.Setenv("FERRY_TEST_CANARY", "aws-secret-canary")
	h := startHost(t, nil)
	waitReady(t, h)
	resp, err := read(t, h, "env", 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(resp.Record), "canary") || strings.Contains(string(resp.Record), "PATH=") {
		t.Fatalf("plugin environment leaked host variables: %s", resp.Record)
	}
}

func TestPanicIsContained(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	pid := h.PID("test")
	_, err := read(t, h, "panic", 5*time.Second, nil)
	if connectors.CodeOf(err) != connectors.CodeInternal {
		t.Fatalf("panic: %v", err)
	}
	if strings.Contains(err.Error(), "canary") {
		t.Fatalf("panic text crossed the wire: %v", err)
	}
	if _, err := read(t, h, "ok", 5*time.Second, nil); err != nil {
		t.Fatalf("after panic: %v", err)
	}
	if h.PID("test") != pid {
		t.Fatal("a panic in one call restarted the plugin")
	}
}

func TestHangIsBoundedByDeadline(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	start := time.Now()
	_, err := read(t, h, "hang", 300*time.Millisecond, nil)
	took := time.Since(start)
	if connectors.CodeOf(err) != connectors.CodeUpstreamTimeout {
		t.Fatalf("hang: %v", err)
	}
	// Bounded, not hanging. The tight "within 100 ms of the deadline"
	// figure belongs to the resilience fault suite, measured without -race.
	if took > 300*time.Millisecond+time.Second {
		t.Fatalf("hang outlived its deadline by %v", took-300*time.Millisecond)
	}
}

func TestOversizedAnswerFailsTheCallOnly(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	if _, err := read(t, h, "big", 10*time.Second, nil); err == nil {
		t.Fatal("a 70 MiB answer was accepted")
	}
	if _, err := read(t, h, "ok", 5*time.Second, nil); err != nil {
		t.Fatalf("after big: %v", err)
	}
}

func TestCrashAndRestart(t *testing.T) {
	for _, how := range []string{"exit", "sigkill"} {
		t.Run(how, func(t *testing.T) {
			h := startHost(t, nil)
			waitReady(t, h)
			pid := h.PID("test")
			if pid == 0 {
				t.Fatal("no pid")
			}
			var err error
			start := time.Now()
			if how == "exit" {
				_, err = read(t, h, "exit", 5*time.Second, nil)
			} else {
				done := make(chan error, 1)
				go func() { _, e := read(t, h, "hang", 10*time.Second, nil); done <- e }()
				time.Sleep(100 * time.Millisecond)
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				err = <-done
			}
			if !errors.Is(err, ErrPluginFailed) {
				t.Fatalf("in-flight call: %v", err)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("in-flight call took %v to fail", time.Since(start))
			}
			// Requests succeed again within 2 s, served by a new process.
			deadline := time.Now().Add(2 * time.Second)
			for {
				if _, err := read(t, h, "ok", time.Second, nil); err == nil {
					if h.PID("test") == pid {
						t.Fatal("answered by the dead process")
					}
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("no recovery within 2s: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestChecksumMismatchRefusesToStart(t *testing.T) {
	h := startHost(t, func(s *Spec) { s.SHA256 = make([]byte, 32) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.WaitReady(ctx); err == nil {
		t.Fatal("a binary with the wrong checksum started")
	}
	if h.PID("test") != 0 {
		t.Fatal("process running")
	}
	// While it backs off, calls fail at once instead of waiting.
	start := time.Now()
	_, err := read(t, h, "ok", 5*time.Second, nil)
	if !errors.Is(err, connectors.ErrPluginUnavailable) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestConfigureRejectionKeepsPluginUnready(t *testing.T) {
	h := startHost(t, func(s *Spec) { s.Connections[0].Settings = json.RawMessage(`{"x":"reject"}`) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.WaitReady(ctx); err == nil || h.Ready() {
		t.Fatal("plugin ready with a rejected connection")
	}
}

func TestWrongKindRefused(t *testing.T) {
	h := startHost(t, func(s *Spec) { s.Kind = "fhir" })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.WaitReady(ctx); err == nil {
		t.Fatal("a plugin reporting kind test served as fhir")
	}
}

// exchangeTransport is an MLLP connection's transport: Exchange answers,
// Do is refused.
type exchangeTransport struct {
	fakeTransport
	got []byte
}

func (e *exchangeTransport) Exchange(_ context.Context, msg []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append([]byte(nil), msg...)
	if e.err != nil {
		return nil, e.err
	}
	return append([]byte("ACK to "), msg...), nil
}

func TestExchangeThroughPluginAndTransport(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	tr := &exchangeTransport{}
	resp, err := read(t, h, "exchange", 5*time.Second, tr)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Reply string `json:"reply"`
	}
	if err := json.Unmarshal(resp.Record, &got); err != nil || got.Reply != `ACK to MSH|^~\&|PING` || string(tr.got) != `MSH|^~\&|PING` {
		t.Fatalf("exchange: %s %v (host got %q)", resp.Record, err, tr.got)
	}
	// The host's own error wins, as for Do.
	tr.err = &connectors.Error{Code: connectors.CodeSourceUnavailable}
	if _, err := read(t, h, "exchange", 5*time.Second, tr); connectors.CodeOf(err) != connectors.CodeSourceUnavailable {
		t.Fatalf("got %v", err)
	}
	// An HTTP connection's transport has no Exchange: a typed error.
	if _, err := read(t, h, "exchange", 5*time.Second, &fakeTransport{}); connectors.CodeOf(err) != connectors.CodeUnsupported {
		t.Fatalf("exchange on an HTTP transport: %v", err)
	}
}

func TestNewHostValidates(t *testing.T) {
	if _, err := NewHost([]Spec{{Kind: "a", SHA256: []byte{1}}}, Options{}); err == nil {
		t.Fatal("short digest accepted")
	}
	sum := make([]byte, 32)
	if _, err := NewHost([]Spec{{Kind: "a", SHA256: sum}, {Kind: "a", SHA256: sum}}, Options{}); err == nil {
		t.Fatal("duplicate kind accepted")
	}
}

// TestCrashLoopBacksOff: a plugin that keeps dying soon after start is
// backed off, and calls meanwhile fail at once rather than waiting.
func TestCrashLoopBacksOff(t *testing.T) {
	path, sum := testPlugin(t)
	h, err := NewHost([]Spec{{Kind: "test", Path: path, SHA256: sum}},
		Options{MinBackoff: 2 * time.Second, StableAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	defer h.Close()
	prev := 0
	for i := 0; i < 2; i++ {
		// Wait for a new process: right after a crash the supervisor may
		// not have noticed yet.
		deadline := time.Now().Add(10 * time.Second)
		for h.PID("test") == 0 || h.PID("test") == prev {
			if time.Now().After(deadline) {
				t.Fatal("no new process")
			}
			time.Sleep(10 * time.Millisecond)
		}
		prev = h.PID("test")
		if _, err := read(t, h, "exit", 5*time.Second, nil); !errors.Is(err, ErrPluginFailed) {
			t.Fatalf("crash %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		start := time.Now()
		_, err := read(t, h, "ok", 5*time.Second, nil)
		if errors.Is(err, connectors.ErrPluginUnavailable) {
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("fail-fast took %v", time.Since(start))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never backed off: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
