package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"golang.org/x/sys/unix"
)

// Runner is a go-plugin ClientConfig.RunnerFunc. From the exec.Cmd that
// go-plugin prepared it takes the environment (the magic cookie and the
// PLUGIN_* variables, nothing of the host's), the working directory, any
// ExtraFiles and SysProcAttr (the conformance kit's network namespace);
// socketDir is go-plugin's private 0700 directory for the plugin's Unix
// socket. It verifies the binary, plans the sandbox and returns a runner
// whose Start launches it.
func (c *Command) Runner(_ hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
	r, err := c.prepare(cmd, socketDir)
	if err != nil {
		// go-plugin removes the directory it made only when a process
		// ran; this start never got one.
		_ = os.RemoveAll(socketDir)
		return nil, err
	}
	return r, nil
}

func (c *Command) prepare(cmd *exec.Cmd, socketDir string) (*sandboxRunner, error) {
	path := c.Path
	if path == "" {
		path = cmd.Path
	}
	if path == "" {
		return nil, errors.New("plugin sandbox: no binary to run")
	}
	if len(c.SHA256) != sha256.Size {
		return nil, fmt.Errorf("plugin sandbox: %s: the expected sha256 must be %d bytes", path, sha256.Size)
	}
	status, err := Probe().Plan(c.Mode)
	if err != nil {
		return nil, err
	}
	extra := append(append([]*os.File{}, c.ExtraFiles...), cmd.ExtraFiles...)
	if len(extra) > maxExtraFiles {
		return nil, fmt.Errorf("plugin sandbox: %d extra files: at most %d", len(extra), maxExtraFiles)
	}
	var nofile unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil || nofile.Cur <= execFD {
		return nil, fmt.Errorf("plugin sandbox: the host's RLIMIT_NOFILE (%d) must exceed %d", nofile.Cur, execFD)
	}
	bin, err := openVerified(path, c.SHA256)
	if err != nil {
		return nil, err
	}
	spec := launchSpec{
		Parent:     os.Getpid(),
		Argv:       []string{path},
		ExtraFiles: len(extra),
		Landlock:   status.LandlockABI,
		Seccomp:    status.Seccomp,
		Limits:     status.Limits,
		DropCaps:   status.NoCapabilities,
		SocketDir:  socketDir,
	}
	// go-plugin's exec.Cmd for a RunnerFunc has Args [""]: argv[0] is then
	// the path. A caller that sets argv[0] (the conformance kit's escape
	// probe) gets its own.
	if len(cmd.Args) > 0 && cmd.Args[0] != "" {
		spec.Argv = append([]string{}, cmd.Args...)
	} else if len(cmd.Args) > 1 {
		spec.Argv = append(spec.Argv, cmd.Args[1:]...)
	}
	if spec.Landlock > 0 {
		abs, _ := filepath.Abs(path)
		if spec.Interp, spec.Libs, err = loaderFiles(bin, filepath.Dir(abs)); err != nil {
			bin.Close()
			return nil, fmt.Errorf("plugin sandbox: %s: %w", path, err)
		}
	}
	if spec.Limits && os.Getuid() != 0 {
		// RLIMIT_NPROC counts every task of the uid; uid 0 is exempt, so
		// it is set only where it bites.
		spec.NProc = uint64(tasksOfUID(os.Getuid()) + ThreadHeadroom)
	}
	arg, err := json.Marshal(&spec)
	if err != nil {
		bin.Close()
		return nil, err
	}
	reportR, reportW, err := os.Pipe()
	if err != nil {
		bin.Close()
		return nil, err
	}
	lc := exec.Command(selfExe)
	lc.Args = []string{launcherArg0, string(arg)}
	// A nil Env would hand the launcher, and so the plugin, the host's
	// whole environment.
	lc.Env = append([]string{}, cmd.Env...)
	if spec.Landlock > 0 && !slices.ContainsFunc(lc.Env, func(v string) bool { return strings.HasPrefix(v, "GOMAXPROCS=") }) {
		// The Go runtime sizes GOMAXPROCS from the cgroup CPU quota,
		// which Landlock keeps it from reading; the host's own value
		// (already sized from the quota) is what it would have found.
		lc.Env = append(lc.Env, "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
	}
	lc.Dir = cmd.Dir
	// ExtraFiles, the report pipe, nothing (a nil entry closes that
	// number in the child), and the binary at execFD.
	files := make([]*os.File, execFD-3+1)
	copy(files, extra)
	files[len(extra)] = reportW
	files[execFD-3] = bin
	lc.ExtraFiles = files
	attr := &syscall.SysProcAttr{}
	if cmd.SysProcAttr != nil {
		a := *cmd.SysProcAttr
		attr = &a
	}
	// The kernel kills the launcher, and the plugin it becomes, when the
	// host dies; Go's fork checks the parent is still there after arming
	// it, and the launcher checks again.
	attr.Pdeathsig = syscall.SIGKILL
	lc.SysProcAttr = attr
	// Stdin is /dev/null, not the host's.
	r := &sandboxRunner{c: c, cmd: lc, name: path, status: status, socketDir: socketDir, bin: bin, reportR: reportR, reportW: reportW}
	if r.stdout, err = lc.StdoutPipe(); err != nil {
		r.closeFiles()
		return nil, err
	}
	if r.stderr, err = lc.StderrPipe(); err != nil {
		r.closeFiles()
		return nil, err
	}
	return r, nil
}

// openVerified opens the binary, hashes it from that descriptor and
// compares in constant time. The same descriptor is what the launcher
// execs, so a file swapped in at the path after the check is never run.
func openVerified(path string, want []byte) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin sandbox: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", path)
	}
	if err == nil {
		err = writableByOthers(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("plugin sandbox: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("plugin sandbox: hashing %s: %w", path, err)
	}
	if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, plugin.ErrChecksumsDoNotMatch)
	}
	// A script cannot be exec'd from a close-on-exec descriptor (its
	// interpreter would need to open it again), nor would the sandbox let
	// the interpreter run: plugins are ELF binaries.
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != "\x7fELF" {
		f.Close()
		return nil, fmt.Errorf("plugin sandbox: %s is not an ELF executable (a plugin is a binary, not a script)", path)
	}
	return f, nil
}

// writableByOthers refuses a binary that someone other than its owner may
// write, or whose owner is neither root nor the host's user: hashing and
// exec'ing one descriptor closes the race of a file swapped in at the path,
// not that of the same file written between the hash and the exec.
func writableByOthers(path string, fi os.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by its group or by others (%v): make it 0755 or stricter", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, neither root nor the host's user", path, st.Uid)
	}
	return nil
}

// tasksOfUID counts the tasks (threads) of processes whose real uid is
// uid, as RLIMIT_NPROC does.
func tasksOfUID(uid int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := strconv.Itoa(uid)
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var mine bool
		threads := 0
		for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
			k, v, _ := strings.Cut(sc.Text(), ":")
			f := strings.Fields(v)
			switch {
			case k == "Uid" && len(f) > 0:
				mine = f[0] == want
			case k == "Threads" && len(f) > 0:
				threads, _ = strconv.Atoi(f[0])
			}
		}
		if mine {
			n += threads
		}
	}
	return n
}

// sandboxRunner is go-plugin's runner.Runner for one sandboxed start.
type sandboxRunner struct {
	c         *Command
	cmd       *exec.Cmd
	name      string
	status    Status
	socketDir string

	bin              *os.File
	reportR, reportW *os.File
	stdout, stderr   io.ReadCloser
	pid              int
}

var _ runner.Runner = (*sandboxRunner)(nil)

func (r *sandboxRunner) closeFiles() {
	r.bin.Close()
	r.reportR.Close()
	r.reportW.Close()
}

// Start launches the launcher and waits until it has exec'd the plugin
// (the report pipe closes on exec) or said why it could not.
func (r *sandboxRunner) Start(ctx context.Context) error {
	err := r.cmd.Start()
	// The launcher holds its own copies now.
	r.bin.Close()
	r.reportW.Close()
	defer r.reportR.Close()
	if err != nil {
		_ = os.RemoveAll(r.socketDir)
		return fmt.Errorf("plugin sandbox: starting the launcher: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = r.reportR.SetReadDeadline(dl)
	} else {
		_ = r.reportR.SetReadDeadline(time.Now().Add(time.Minute))
	}
	msg, err := io.ReadAll(io.LimitReader(r.reportR, 4<<10))
	if err != nil || len(msg) > 0 {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		_ = os.RemoveAll(r.socketDir)
		if err != nil {
			return fmt.Errorf("plugin sandbox: the launcher did not exec the plugin: %w", err)
		}
		return fmt.Errorf("plugin sandbox: %s", bytes.TrimSpace(msg))
	}
	r.pid = r.cmd.Process.Pid
	r.c.mu.Lock()
	r.c.pid, r.c.status = r.pid, r.status
	r.c.mu.Unlock()
	return nil
}

func (r *sandboxRunner) Wait(context.Context) error { return r.cmd.Wait() }

func (r *sandboxRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *sandboxRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *sandboxRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *sandboxRunner) Name() string          { return r.name }

// ID is the pid, or "" before a successful start: go-plugin's Kill then
// has nothing to kill.
func (r *sandboxRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *sandboxRunner) Diagnose(context.Context) string {
	return "the plugin ran in the kernel sandbox: " + r.status.String()
}

func (r *sandboxRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *sandboxRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}
