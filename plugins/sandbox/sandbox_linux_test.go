package sandbox

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/ferryhealth/ferry/connectors/conformance/escape"
)

// These tests run real processes on the real kernel: internal/probe, built
// once per variant into a temporary folder, started through Command.Runner
// exactly as go-plugin starts a plugin. Run them alone with
// `go test ./plugins/sandbox/`.

var (
	buildMu  sync.Mutex
	builtDir string
	built    = map[string]string{}
)

// probeBinary builds internal/probe with main.variant set to v.
func probeBinary(t testing.TB, v string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[v]; ok {
		return p
	}
	if builtDir == "" {
		d, err := os.MkdirTemp("", "ferry-sandbox-test")
		if err != nil {
			t.Fatal(err)
		}
		builtDir = d
	}
	p := filepath.Join(builtDir, "probe-"+v)
	out, err := exec.Command("go", "build", "-ldflags", "-X main.variant="+v, "-o", p, "./internal/probe").CombinedOutput()
	if err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	built[v] = p
	return p
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

func sum(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return s[:]
}

type probeReport struct {
	Variant  string            `json:"variant"`
	FDs      map[int]string    `json:"fds"`
	Env      []string          `json:"env"`
	NNP      int               `json:"nnp"`
	Seccomp  int               `json:"seccomp"`
	CapEff   uint64            `json:"cap_eff"`
	CapBnd   uint64            `json:"cap_bnd"`
	Limits   map[string]uint64 `json:"limits"`
	Escapes  []escape.Attempt  `json:"escapes"`
	Reexec   map[string]string `json:"reexec"`
	FD3      string            `json:"fd3"`
	Sendmsg  string            `json:"sendmsg"`
	Recvmsg  string            `json:"recvmsg"`
	Argv     []string          `json:"argv"`
	Pid      int               `json:"pid"`
	PPid     int               `json:"ppid"`
	Cwd      string            `json:"cwd"`
	CwdError string            `json:"cwd_error"`
}

// started is a probe process started through Command.Runner.
type started struct {
	r         runner.Runner
	socketDir string
	out       *bufio.Reader
}

// start runs c the way go-plugin does: a fresh 0700 socket directory, an
// exec.Cmd carrying only the environment, then Runner and Start.
func start(t *testing.T, c *Command, cmd *exec.Cmd) (*started, error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "plugin-dir")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cmd == nil {
		cmd = exec.Command("")
	}
	if cmd.Env == nil {
		cmd.Env = []string{"PROBE_DEBUG=1", "FERRY_PROBE_COOKIE=1", "PLUGIN_UNIX_SOCKET_DIR=" + dir}
	}
	r, err := c.Runner(hclog.NewNullLogger(), cmd, dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	s := &started{r: r, socketDir: dir, out: bufio.NewReader(r.Stdout())}
	go func() { _, _ = bufio.NewReader(r.Stderr()).WriteTo(os.Stderr) }()
	t.Cleanup(func() { _ = r.Kill(context.Background()); _ = r.Wait(context.Background()) })
	return s, nil
}

func (s *started) report(t *testing.T) probeReport {
	t.Helper()
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("no report from the probe: %v (%q)", err, line)
	}
	var rep probeReport
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("report: %v: %s", err, line)
	}
	return rep
}

func requireFull(t *testing.T) {
	t.Helper()
	if st, err := Probe().Plan(ModeRequired); err != nil || st.Level() != LevelFull {
		t.Skipf("this kernel cannot run the full sandbox (%s): %v", Probe(), err)
	}
}

// targets starts what a hostile process would try to reach, all owned by
// the test and bound to 127.0.0.1 or the abstract namespace, and counts
// what arrives.
type targets struct {
	escape.Targets
	arrived atomic.Int64
}

func newTargets(t *testing.T) *targets {
	t.Helper()
	tg := &targets{}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			tg.arrived.Add(1)
			c.Close()
		}
	}()
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
			tg.arrived.Add(1)
		}
	}()
	name := fmt.Sprintf("ferry-sandbox-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	abs, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { abs.Close() })
	go func() {
		for {
			c, err := abs.Accept()
			if err != nil {
				return
			}
			tg.arrived.Add(1)
			c.Close()
		}
	}()
	cfgDir := t.TempDir()
	cfg := filepath.Join(cfgDir, "ferry.json")
	planted := filepath.Join(cfgDir, "planted.txt")
	for _, f := range []string{cfg, planted} {
		if err := os.WriteFile(f, []byte(`{"secret":"canary"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wd, _ := os.Getwd()
	tg.Targets = escape.Targets{
		TCP: tcp.Addr().String(), UDP: udp.LocalAddr().String(), Abstract: name,
		Dirs:   []string{os.TempDir(), wd, cfgDir},
		Files:  []string{cfg, planted},
		Parent: os.Getpid(),
		Forks:  16,
	}
	return tg
}

func (tg *targets) arg(t *testing.T) string {
	b, err := json.Marshal(tg.Targets)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSandboxedProcess runs the probe under the full sandbox and checks,
// from inside and outside the process, everything the sandbox promises.
func TestSandboxedProcess(t *testing.T) {
	requireFull(t)
	path := probeBinary(t, "a")
	tg := newTargets(t)
	// Descriptor 3 is the test's end of a socket pair: it must arrive
	// open, as fd 3, and usable.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(pair[0]), "test end"), os.NewFile(uintptr(pair[1]), "probe end")
	defer mine.Close()
	c := &Command{Path: path, SHA256: sum(t, path), ExtraFiles: []*os.File{theirs}}
	cmd := exec.Command("")
	cmd.Args = []string{"", tg.arg(t)}
	s, err := start(t, c, cmd)
	theirs.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.Level() != LevelFull || c.PID() == 0 {
		t.Fatalf("status %v, pid %d", st, c.PID())
	}
	// The probe talks on fd 3 before it reports.
	buf := make([]byte, 64)
	n, err := mine.Read(buf)
	if err != nil || string(buf[:n]) != "hello from fd 3" {
		t.Fatalf("fd 3: %q %v", buf[:n], err)
	}
	if _, err := mine.Write([]byte("hello back")); err != nil {
		t.Fatal(err)
	}
	n, err = mine.Read(buf)
	if err != nil || string(buf[:n]) != "sendmsg" {
		t.Fatalf("sendmsg from the probe: %q %v", buf[:n], err)
	}
	if _, err := mine.Write([]byte("recvmsg")); err != nil {
		t.Fatal(err)
	}
	rep := s.report(t)
	if rep.FD3 != "hello back" || rep.Sendmsg != "ok" || rep.Recvmsg != "recvmsg" {
		t.Errorf("inherited socket: read %q, sendmsg %q, recvmsg %q", rep.FD3, rep.Sendmsg, rep.Recvmsg)
	}
	// Descriptors at start: stdin, stdout, stderr and the socket at 3,
	// nothing else (not the binary, not the report pipe).
	want := map[int]string{0: "char", 1: "pipe", 2: "pipe", 3: "socket"}
	if len(rep.FDs) != len(want) {
		t.Errorf("descriptors at start: %v, want %v", rep.FDs, want)
	}
	for fd, kind := range want {
		if !strings.HasPrefix(rep.FDs[fd], kind) {
			t.Errorf("fd %d is %q, want %q (all: %v)", fd, rep.FDs[fd], kind, rep.FDs)
		}
	}
	wantEnv := append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	if strings.Join(rep.Env, " ") != strings.Join(wantEnv, " ") {
		t.Errorf("environment %q, want exactly %q", rep.Env, wantEnv)
	}
	if rep.Argv[0] != path || rep.PPid != os.Getpid() {
		t.Errorf("argv %q, parent %d", rep.Argv, rep.PPid)
	}
	if rep.NNP != 1 || rep.Seccomp != 2 {
		t.Errorf("no_new_privs %d, seccomp mode %d; want 1 and 2 (filter)", rep.NNP, rep.Seccomp)
	}
	if rep.CapEff != 0 || rep.CapBnd != 0 {
		t.Errorf("capabilities: effective %#x, bounding %#x; want none", rep.CapEff, rep.CapBnd)
	}
	if l := rep.Limits; l["nofile"] != MaxOpenFiles || l["fsize"] != 0 || l["core"] != 0 {
		t.Errorf("limits %v", l)
	}
	for what, res := range rep.Reexec {
		if what == "open_self" {
			continue // reading its own binary is allowed
		}
		if res == "ok" {
			t.Errorf("%s succeeded: the plugin could exec again", what)
		}
	}
	for _, a := range rep.Escapes {
		if !a.Blocked() {
			t.Errorf("escape: %s", a)
		} else {
			t.Logf("blocked: %s", a)
		}
	}
	if len(rep.Escapes) < 15 {
		t.Errorf("only %d attempts reported: %v", len(rep.Escapes), rep.Escapes)
	}
	if n := tg.arrived.Load(); n != 0 {
		t.Errorf("%d connections or datagrams reached the test's listeners", n)
	}
	// From outside: the kernel's own view of the process.
	status, err := os.ReadFile("/proc/" + s.r.ID() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000"} {
		if !strings.Contains(string(status), line+"\n") {
			t.Errorf("/proc/pid/status lacks %q", line)
		}
	}
	mine.Close() // lets the probe exit
}

// TestModeOffRunsUnfenced is the same probe with the sandbox off: the
// attempts that the sandbox blocks succeed, so the test above can fail.
func TestModeOffRunsUnfenced(t *testing.T) {
	path := probeBinary(t, "a")
	tg := newTargets(t)
	tg.Parent = 0 // no ptrace of the test process itself
	c := &Command{Path: path, SHA256: sum(t, path), Mode: ModeOff}
	cmd := exec.Command("")
	cmd.Args = []string{"", tg.arg(t)}
	s, err := start(t, c, cmd)
	if err != nil {
		t.Fatal(err)
	}
	rep := s.report(t)
	if rep.NNP != 0 || rep.Seccomp != 0 {
		t.Errorf("mode off: no_new_privs %d, seccomp %d", rep.NNP, rep.Seccomp)
	}
	ok := map[string]bool{}
	for _, a := range rep.Escapes {
		if !a.Blocked() {
			ok[a.Name] = true
		}
	}
	for _, name := range []string{"tcp_connect", "udp_send", "abstract_unix", "create_file", "read_file", "fork"} {
		if !ok[name] {
			t.Errorf("without the sandbox %s failed too: the sandboxed test proves nothing (%v)", name, rep.Escapes)
		}
	}
	if tg.arrived.Load() == 0 {
		t.Error("nothing reached the listeners without the sandbox")
	}
	// The Go runtime keeps the cgroup CPU quota files open (it re-reads
	// them for GOMAXPROCS); the sandbox denies them. Nothing else.
	for fd, kind := range rep.FDs {
		if fd > 2 && !strings.HasPrefix(kind, "file /sys/fs/cgroup/") {
			t.Errorf("descriptor %d at start: %s (all: %v)", fd, kind, rep.FDs)
		}
	}
}

// TestExecsTheVerifiedFile swaps the binary at the path after it was
// verified and before it was started: the verified one runs.
func TestExecsTheVerifiedFile(t *testing.T) {
	a, b := probeBinary(t, "a"), probeBinary(t, "b")
	dir := t.TempDir()
	path := filepath.Join(dir, "plugin")
	copyFile(t, a, path)
	c := &Command{Path: path, SHA256: sum(t, a)}
	sockDir := t.TempDir()
	cmd := exec.Command("")
	cmd.Env = []string{}
	r, err := c.Runner(hclog.NewNullLogger(), cmd, sockDir)
	if err != nil {
		t.Fatal(err)
	}
	// The swap: b renamed over the path.
	copyFile(t, b, path+".new")
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Kill(context.Background()); _ = r.Wait(context.Background()) })
	s := &started{r: r, out: bufio.NewReader(r.Stdout())}
	if rep := s.report(t); rep.Variant != "a" {
		t.Fatalf("variant %q ran: the file at the path was exec'd, not the one verified", rep.Variant)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestChecksumMismatch(t *testing.T) {
	path := probeBinary(t, "a")
	dir, err := os.MkdirTemp("", "plugin-dir")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c := &Command{Path: path, SHA256: make([]byte, 32)}
	_, err = c.Runner(hclog.NewNullLogger(), exec.Command(""), dir)
	if !errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		t.Fatalf("got %v", err)
	}
	// go-plugin removes the socket directory only when a process ran.
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("socket directory left behind after a refused start")
	}
}

// TestWritableBinaryRefused: a binary its group or others may write is
// refused before it is hashed, so nobody but its owner can change it
// between the hash and the exec.
func TestWritableBinaryRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin")
	copyFile(t, probeBinary(t, "a"), path)
	if err := os.Chmod(path, 0o775); err != nil {
		t.Fatal(err)
	}
	c := &Command{Path: path, SHA256: sum(t, path)}
	_, err := c.Runner(hclog.NewNullLogger(), exec.Command(""), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "writable by its group or by others") {
		t.Fatalf("a group-writable binary: %v", err)
	}
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := c.Runner(hclog.NewNullLogger(), exec.Command(""), t.TempDir())
	if err != nil {
		t.Fatalf("the same binary, 0755: %v", err)
	}
	_ = r
}

// TestScriptRefused: a plugin is an ELF binary; a script is refused with a
// reason, in every mode, before anything starts.
func TestScriptRefused(t *testing.T) {
	script := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range Modes {
		c := &Command{Path: script, SHA256: sum(t, script), Mode: m}
		if _, err := c.Runner(hclog.NewNullLogger(), exec.Command(""), t.TempDir()); err == nil || !strings.Contains(err.Error(), "not an ELF executable") {
			t.Errorf("%s: %v", m, err)
		}
	}
}

// TestLauncherReportsFailure: a failing step of the launcher comes back as
// Start's error, not as a plugin that "exited before we could connect".
func TestLauncherReportsFailure(t *testing.T) {
	requireFull(t)
	path := probeBinary(t, "a")
	c := &Command{Path: path, SHA256: sum(t, path)}
	dir := t.TempDir()
	cmd := exec.Command("")
	cmd.Env = []string{}
	r, err := c.Runner(hclog.NewNullLogger(), cmd, dir)
	if err != nil {
		t.Fatal(err)
	}
	// The socket directory vanishing makes the Landlock rule for it fail.
	os.RemoveAll(dir)
	err = r.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "landlock") {
		t.Fatalf("got %v", err)
	}
}

func TestPlan(t *testing.T) {
	full := Support{LandlockABI: 7, Seccomp: true, DropCapabilities: true}
	if st, err := full.Plan(""); err != nil || st.Level() != LevelFull || st.Mode != ModeRequired {
		t.Fatalf("full: %v %v", st, err)
	}
	old := Support{LandlockABI: 3, Seccomp: true, DropCapabilities: true}
	if _, err := old.Plan(ModeRequired); !errors.Is(err, ErrRefused) {
		t.Fatalf("ABI 3 required: %v", err)
	}
	st, err := old.Plan(ModeBestEffort)
	if err != nil || st.Level() != LevelPartial || st.LandlockABI != 3 {
		t.Fatalf("ABI 3 best effort: %v %v", st, err)
	}
	if !strings.Contains(st.String(), "missing: landlock tcp rules") {
		t.Fatalf("%s", st)
	}
	if st, err := full.Plan(ModeOff); err != nil || st.Level() != LevelNone {
		t.Fatalf("off: %v %v", st, err)
	}
	if _, err := (Support{}).Plan(ModeRequired); !errors.Is(err, ErrRefused) {
		t.Fatalf("nothing: %v", err)
	}
	// Capabilities that cannot be dropped are said, not refused: Landlock
	// and seccomp hold regardless.
	if st, err := (Support{LandlockABI: 7, Seccomp: true}).Plan(ModeRequired); err != nil || st.Level() != LevelFull || !strings.Contains(st.String(), "capabilities: the host's bounding set") {
		t.Fatalf("no CAP_SETPCAP: %v %v", st, err)
	}
	if _, err := full.Plan("loose"); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

// TestSeccompVerdicts runs the assembled filters over the system calls
// that matter, the way the kernel does: every filter runs, the strictest
// verdict wins.
func TestSeccompVerdicts(t *testing.T) {
	info, err := arch.GetInfo("")
	if err != nil {
		t.Skip(err)
	}
	var progs [][]bpf.Instruction
	for _, p := range seccompPolicies() {
		prog, err := p.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		if len(prog) > 4096 {
			t.Fatalf("%d instructions: over the kernel's limit", len(prog))
		}
		progs = append(progs, prog)
	}
	nr := func(name string) uint32 {
		n, ok := info.SyscallNames[name]
		if !ok {
			t.Fatalf("no %s on %s", name, info.Name)
		}
		return uint32(n)
	}
	const (
		allow  = uint32(unix.SECCOMP_RET_ALLOW)
		eperm  = uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.EPERM)
		enosys = uint32(unix.SECCOMP_RET_ERRNO) | uint32(unix.ENOSYS)
	)
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD)
	for _, c := range []struct {
		name string
		arch uint32
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{"read", 0, nr("read"), [6]uint64{}, allow},
		{"futex", 0, nr("futex"), [6]uint64{}, allow},
		{"socket(AF_UNIX)", 0, nr("socket"), [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
		{"socket(AF_INET)", 0, nr("socket"), [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, eperm},
		{"socket(AF_INET6 UDP)", 0, nr("socket"), [6]uint64{unix.AF_INET6, unix.SOCK_DGRAM}, eperm},
		{"socket(AF_NETLINK)", 0, nr("socket"), [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW}, eperm},
		{"socket(AF_UNIX | 1<<32)", 0, nr("socket"), [6]uint64{unix.AF_UNIX | 1<<32}, eperm},
		{"socketpair(AF_UNIX)", 0, nr("socketpair"), [6]uint64{unix.AF_UNIX}, allow},
		{"clone(thread)", 0, nr("clone"), [6]uint64{threadFlags}, allow},
		{"clone(SIGCHLD)", 0, nr("clone"), [6]uint64{uint64(unix.SIGCHLD)}, eperm},
		{"clone(vfork)", 0, nr("clone"), [6]uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}, eperm},
		{"clone3", 0, nr("clone3"), [6]uint64{}, enosys},
		{"execve", 0, nr("execve"), [6]uint64{}, eperm},
		{"execveat(execFD, AT_EMPTY_PATH)", 0, nr("execveat"), [6]uint64{execFD, 0, 0, 0, unix.AT_EMPTY_PATH}, allow},
		{"execveat(3, AT_EMPTY_PATH)", 0, nr("execveat"), [6]uint64{3, 0, 0, 0, unix.AT_EMPTY_PATH}, eperm},
		{"execveat(execFD, 0)", 0, nr("execveat"), [6]uint64{execFD, 0, 0, 0, 0}, eperm},
		{"prlimit64(get)", 0, nr("prlimit64"), [6]uint64{0, unix.RLIMIT_NOFILE, 0, 0xc000}, allow},
		{"prlimit64(set)", 0, nr("prlimit64"), [6]uint64{0, unix.RLIMIT_NOFILE, 0xc000, 0}, eperm},
		{"prctl(PR_SET_PDEATHSIG)", 0, nr("prctl"), [6]uint64{unix.PR_SET_PDEATHSIG, 0}, eperm},
		{"prctl(PR_SET_NAME)", 0, nr("prctl"), [6]uint64{unix.PR_SET_NAME, 0xc000}, allow},
		{"ptrace", 0, nr("ptrace"), [6]uint64{}, eperm},
		{"mount", 0, nr("mount"), [6]uint64{}, eperm},
		{"unshare", 0, nr("unshare"), [6]uint64{}, eperm},
		{"bpf", 0, nr("bpf"), [6]uint64{}, eperm},
		{"io_uring_setup", 0, nr("io_uring_setup"), [6]uint64{}, eperm},
		{"fchmodat", 0, nr("fchmodat"), [6]uint64{}, eperm},
		{"a system call newer than the table", 0, 600, [6]uint64{}, eperm},
		{"another ABI (i386 socketcall)", 0x40000003, 102, [6]uint64{}, eperm},
	} {
		a := c.arch
		if a == 0 {
			a = uint32(info.ID)
		}
		got := allow
		for _, prog := range progs {
			if v := runFilter(t, prog, c.nr, a, c.args); v&unix.SECCOMP_RET_ACTION_FULL < got&unix.SECCOMP_RET_ACTION_FULL {
				got = v
			}
		}
		if got != c.want {
			t.Errorf("%s: verdict %#x, want %#x", c.name, got, c.want)
		}
	}
}

// runFilter interprets the classic BPF instructions go-seccomp-bpf emits
// over a seccomp_data, loading native-endian words as the kernel does.
func runFilter(t *testing.T, prog []bpf.Instruction, nr, arch uint32, args [6]uint64) uint32 {
	t.Helper()
	word := func(off uint32) uint32 {
		switch {
		case off == 0:
			return nr
		case off == 4:
			return arch
		case off >= 16 && off < 64:
			v := args[(off-16)/8]
			if (off-16)%8 == 0 {
				return uint32(v) // little-endian: the low word first
			}
			return uint32(v >> 32)
		}
		t.Fatalf("load at %d", off)
		return 0
	}
	var a uint32
	for pc := 0; pc < len(prog); {
		switch i := prog[pc].(type) {
		case bpf.LoadAbsolute:
			a = word(i.Off)
			pc++
		case bpf.JumpIf:
			var c bool
			switch i.Cond {
			case bpf.JumpEqual:
				c = a == i.Val
			case bpf.JumpNotEqual:
				c = a != i.Val
			case bpf.JumpGreaterThan:
				c = a > i.Val
			case bpf.JumpLessThan:
				c = a < i.Val
			case bpf.JumpGreaterOrEqual:
				c = a >= i.Val
			case bpf.JumpLessOrEqual:
				c = a <= i.Val
			case bpf.JumpBitsSet:
				c = a&i.Val != 0
			case bpf.JumpBitsNotSet:
				c = a&i.Val == 0
			default:
				t.Fatalf("condition %v", i.Cond)
			}
			if c {
				pc += 1 + int(i.SkipTrue)
			} else {
				pc += 1 + int(i.SkipFalse)
			}
		case bpf.Jump:
			pc += 1 + int(i.Skip)
		case bpf.RetConstant:
			return i.Val
		default:
			t.Fatalf("instruction %T", i)
		}
	}
	t.Fatal("ran off the end")
	return 0
}

// TestParentDeath: the probe's parent is killed with SIGKILL; the kernel
// kills the probe with it, sandboxed or not.
func TestParentDeath(t *testing.T) {
	if os.Getenv("FERRY_SANDBOX_TEST_PARENT") != "" {
		return // the child's copy of this test: see TestHelperParent
	}
	path := probeBinary(t, "a")
	for _, mode := range []Mode{ModeBestEffort, ModeOff} {
		t.Run(string(mode), func(t *testing.T) {
			host := exec.Command(os.Args[0], "-test.run=^TestHelperParent$")
			host.Env = append(os.Environ(), "FERRY_SANDBOX_TEST_PARENT="+path, "FERRY_SANDBOX_TEST_MODE="+string(mode))
			out, err := host.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := host.Start(); err != nil {
				t.Fatal(err)
			}
			var pid int
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil && n > 0 {
					pid = n
					break
				}
			}
			if pid == 0 {
				host.Process.Kill()
				host.Wait()
				t.Fatal("the helper host did not report its plugin's pid")
			}
			if !running(pid) {
				t.Fatalf("plugin %d not running", pid)
			}
			host.Process.Kill()
			host.Wait()
			deadline := time.Now().Add(3 * time.Second)
			for running(pid) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("plugin %d outlived its host", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestHelperParent is the host of TestParentDeath, in a child process: it
// starts the probe (which blocks on fd 3), prints its pid, and sleeps.
func TestHelperParent(t *testing.T) {
	path := os.Getenv("FERRY_SANDBOX_TEST_PARENT")
	if path == "" {
		t.Skip("helper of TestParentDeath")
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := os.NewFile(uintptr(pair[1]), "probe end")
	c := &Command{Path: path, SHA256: sum(t, path), Mode: Mode(os.Getenv("FERRY_SANDBOX_TEST_MODE")), ExtraFiles: []*os.File{theirs}}
	if _, err := start(t, c, nil); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(strconv.Itoa(c.PID()) + "\n")
	time.Sleep(time.Minute)
}

// running reports whether pid is alive and not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S …: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// TestNonRootHost runs the host as an ordinary user (nobody), as in a
// Kubernetes pod with runAsNonRoot: no capability to drop, and
// RLIMIT_NPROC set, because the kernel applies it to any uid but 0.
func TestNonRootHost(t *testing.T) {
	if os.Getenv("FERRY_SANDBOX_TEST_NONROOT") != "" {
		return // the child's copy of this test: see TestHelperNonRoot
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to start a process as nobody")
	}
	requireFull(t)
	// Copies nobody can read and run: the test binary and the probe.
	dir, err := os.MkdirTemp("", "ferry-sandbox-nonroot")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, probe := filepath.Join(dir, "sandbox.test"), filepath.Join(dir, "probe")
	copyFile(t, os.Args[0], self)
	copyFile(t, probeBinary(t, "a"), probe)
	host := exec.Command(self, "-test.run=^TestHelperNonRoot$")
	host.Dir = dir
	host.Env = []string{"FERRY_SANDBOX_TEST_NONROOT=" + probe, "TMPDIR=" + os.TempDir()}
	host.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := host.CombinedOutput()
	if err != nil {
		t.Fatalf("the host as nobody: %v\n%s", err, out)
	}
	var rep probeReport
	i := strings.Index(string(out), "{")
	if i < 0 {
		t.Fatalf("no report:\n%s", out)
	}
	if err := json.NewDecoder(strings.NewReader(string(out[i:]))).Decode(&rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if rep.NNP != 1 || rep.Seccomp != 2 || rep.CapEff != 0 {
		t.Errorf("as nobody: no_new_privs %d, seccomp %d, effective capabilities %#x", rep.NNP, rep.Seccomp, rep.CapEff)
	}
	if n := rep.Limits["nproc"]; n < ThreadHeadroom || n > 1<<20 {
		t.Errorf("RLIMIT_NPROC %d: want the uid's tasks + %d", n, ThreadHeadroom)
	} else {
		t.Logf("as nobody: RLIMIT_NPROC %d, no capabilities, no_new_privs, seccomp filter", n)
	}
	for _, a := range rep.Escapes {
		if !a.Blocked() {
			t.Errorf("as nobody, escaped: %s", a)
		}
	}
}

// TestHelperNonRoot is the host of TestNonRootHost, running as nobody: it
// starts the probe in the full sandbox and copies its report to stdout.
func TestHelperNonRoot(t *testing.T) {
	path := os.Getenv("FERRY_SANDBOX_TEST_NONROOT")
	if path == "" {
		t.Skip("helper of TestNonRootHost")
	}
	if st, err := Probe().Plan(ModeRequired); err != nil || !st.NoCapabilities {
		t.Fatalf("as nobody: %v %v", st, err)
	}
	c := &Command{Path: path, SHA256: sum(t, path)}
	cmd := exec.Command("")
	cmd.Args = []string{"", `{"forks":4}`}
	s, err := start(t, c, cmd)
	if err != nil {
		t.Fatal(err)
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.Write(line)
}
