package plugins

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors/conformance/escape"
	"github.com/ferryhealth/ferry/plugins/sandbox"
)

// The hostile plugin: internal/testplugin, asked to escape ("hostile:"),
// inside the real host. Run alone with `go test -run Hostile ./plugins/`.

var (
	secondOnce sync.Once
	secondPath string
	secondSum  []byte
	secondErr  error
)

// secondPlugin is the test plugin built to report kind "test2": the other
// plugin that must not notice its neighbour's escape attempts.
func secondPlugin(t *testing.T) (string, []byte) {
	t.Helper()
	path, _ := testPlugin(t) // for its temporary folder, removed by TestMain
	secondOnce.Do(func() {
		secondPath = filepath.Join(filepath.Dir(path), "testplugin-2")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.kind=test2", "-o", secondPath, "./internal/testplugin").CombinedOutput()
		if err != nil {
			secondErr = errors.New(string(out))
			return
		}
		b, err := os.ReadFile(secondPath)
		if err != nil {
			secondErr = err
			return
		}
		s := sha256.Sum256(b)
		secondSum = s[:]
	})
	if secondErr != nil {
		t.Fatalf("build the second test plugin: %v", secondErr)
	}
	return secondPath, secondSum
}

// escapeTargets starts what a hostile plugin would try to reach, owned by
// the test (127.0.0.1, the abstract namespace, a config file and a file
// planted beside it), and counts what arrives.
func escapeTargets(t *testing.T) (*escape.Targets, *atomic.Int64) {
	t.Helper()
	var arrived atomic.Int64
	count := func(ln net.Listener) {
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				arrived.Add(1)
				c.Close()
			}
		}()
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	count(tcp)
	name := fmt.Sprintf("ferry-hostile-%d-%d", os.Getpid(), time.Now().UnixNano())
	abs, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	count(abs)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := udp.ReadFrom(buf); err != nil {
				return
			}
			arrived.Add(1)
		}
	}()
	dir := t.TempDir()
	cfg, planted := filepath.Join(dir, "ferry.json"), filepath.Join(dir, "planted.txt")
	for _, f := range []string{cfg, planted} {
		if err := os.WriteFile(f, []byte(`{"secret":"canary"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &escape.Targets{
		TCP: tcp.Addr().String(), UDP: udp.LocalAddr().String(), Abstract: name,
		Dirs: []string{dir}, Files: []string{cfg, planted}, Forks: 32,
	}, &arrived
}

func attempts(t *testing.T, h *Host, tg *escape.Targets) []escape.Attempt {
	t.Helper()
	b, err := json.Marshal(tg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := read(t, h, "hostile:"+string(b), 30*time.Second, nil)
	if err != nil {
		t.Fatalf("the hostile plugin did not answer: %v", err)
	}
	var got struct {
		Attempts []escape.Attempt `json:"attempts"`
	}
	if err := json.Unmarshal(resp.Record, &got); err != nil {
		t.Fatal(err)
	}
	return got.Attempts
}

func requireFullSandbox(t *testing.T) {
	t.Helper()
	if _, err := sandbox.Probe().Plan(sandbox.ModeRequired); err != nil {
		t.Skipf("this kernel cannot run the full sandbox (%s): %v", sandbox.Probe(), err)
	}
}

// TestHostilePluginIsFenced: a plugin that tries every way out, inside the
// real host, fails at each, says so in its answer, and neither the host
// nor the plugin beside it notices.
func TestHostilePluginIsFenced(t *testing.T) {
	requireFullSandbox(t)
	path, sum := testPlugin(t)
	path2, sum2 := secondPlugin(t)
	h, err := NewHost([]Spec{
		{Kind: "test", Path: path, SHA256: sum, Connections: []Connection{{ID: "c1", Settings: json.RawMessage(`{}`)}}},
		{Kind: "test2", Path: path2, SHA256: sum2, Connections: []Connection{{ID: "c2", Settings: json.RawMessage(`{}`)}}},
	}, Options{MinBackoff: 50 * time.Millisecond, StableAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(h.Close)
	waitReady(t, h)
	for _, s := range h.Sandboxes() {
		if s.Err != nil || s.Status.Level() != sandbox.LevelFull {
			t.Fatalf("%s: sandbox %v (%v)", s.Kind, s.Status, s.Err)
		}
	}
	pid, pid2 := h.PID("test"), h.PID("test2")

	tg, arrived := escapeTargets(t)
	tg.Parent = os.Getpid() // the host
	tg.ExecInPlace = true   // were it let through, the plugin would be gone
	got := attempts(t, h, tg)
	seen := map[string]bool{}
	for _, a := range got {
		seen[a.Name] = true
		if !a.Blocked() {
			t.Errorf("escaped: %s", a)
		} else {
			t.Logf("blocked: %s", a)
		}
	}
	for _, name := range []string{"tcp_connect", "udp_send", "dns_lookup", "raw_socket", "netlink_socket", "abstract_unix",
		"create_file", "read_file", "chmod", "exec_sh", "execve_in_place", "ptrace", "signal", "pdeathsig", "fork"} {
		if !seen[name] {
			t.Errorf("no %s attempt reported", name)
		}
	}
	if n := arrived.Load(); n != 0 {
		t.Errorf("%d connections or datagrams reached the test's listeners", n)
	}
	// Nobody noticed: both plugins answer, from the same processes.
	if _, err := read(t, h, "ok", 5*time.Second, nil); err != nil || h.PID("test") != pid {
		t.Errorf("the hostile plugin after its attempts: %v (pid %d, was %d)", err, h.PID("test"), pid)
	}
	c2, _ := h.Connector("test2")
	if _, err := c2.Metadata(t.Context(), nil); err != nil || h.PID("test2") != pid2 {
		t.Errorf("the plugin beside it: %v (pid %d, was %d)", err, h.PID("test2"), pid2)
	}
}

// TestHostileUnsandboxedEscapes is the same plugin with the sandbox off:
// its attempts succeed, so the test above can fail.
func TestHostileUnsandboxedEscapes(t *testing.T) {
	h := startHost(t, func(s *Spec) { s.Sandbox = sandbox.ModeOff })
	waitReady(t, h)
	tg, arrived := escapeTargets(t)
	ok := map[string]bool{}
	got := attempts(t, h, tg)
	for _, a := range got {
		if !a.Blocked() {
			ok[a.Name] = true
		}
	}
	for _, name := range []string{"tcp_connect", "udp_send", "abstract_unix", "create_file", "read_file", "exec_sh", "fork"} {
		if !ok[name] {
			t.Errorf("without the sandbox, %s failed too: %v", name, got)
		}
	}
	if arrived.Load() == 0 {
		t.Error("nothing reached the listeners without the sandbox")
	}
}

// TestPluginStartsWithItsOwnDescriptorsOnly: in the real host, the plugin
// starts with stdin, stdout, stderr and its data plane at fd 3 (an
// ExtraFiles entry, kept open through the launcher), and nothing else: not
// the binary the launcher exec'd, not its report pipe, not what the host
// inherited.
func TestPluginStartsWithItsOwnDescriptorsOnly(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	resp, err := read(t, h, "fds", 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		FDs map[string]string `json:"fds"`
	}
	if err := json.Unmarshal(resp.Record, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0": "char", "1": "pipe", "2": "pipe", "3": "socket"}
	for fd, kind := range got.FDs {
		// The Go runtime's poller (epoll, eventfd) may be up before
		// the plugin's package init: its own, made after exec.
		if want[fd] != kind && kind != "other anon_inode:[eventpoll]" && kind != "other anon_inode:[eventfd]" {
			t.Errorf("descriptor %s at start: %s (all: %v)", fd, kind, got.FDs)
		}
	}
	for fd, kind := range want {
		if got.FDs[fd] != kind {
			t.Errorf("descriptor %s is %q, want %q", fd, got.FDs[fd], kind)
		}
	}
}
