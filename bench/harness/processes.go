package harness

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// The processes the harness starts (fixture, proxies, Ferry and its
// plugin), each in its own process group, pinned to the server's CPU.

// proc is a process the harness started, in its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process the harness started: SIGTERM, then after a grace
// period SIGKILL to its process group (its plugins and workers).
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// env is what the targets share: a scratch folder, the binaries, the
// fixture.
type env struct {
	dir    string
	self   string // this program, for the fixture and fastproxy subcommands
	ferry  string // bin/ferry
	plugin string // bin/ferry-connector-fhir
	inproc string // ferry-inprocess
	// sandboxOff starts the plugins unsandboxed (Options.SandboxOff).
	sandboxOff bool
	nginx      string
	pin        bool
	procs      []*proc
	fixture    string // the fixture's address
}

// start runs argv as a server-side process (pinned to the server CPU when
// pinning), with stdout to out and stderr to a log file in the scratch
// folder.
func (e *env) start(name string, argv []string, out io.Writer) (*proc, error) {
	if e.pin {
		argv = append([]string{"taskset", "-c", serverCPU}, argv...)
	}
	logPath := filepath.Join(e.dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, lf
	if out == nil {
		cmd.Stdout = lf
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath}
	e.procs = append(e.procs, p)
	return p, nil
}

func (e *env) stopAll() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	e.procs = nil
}

// tail returns the end of a process's log, for error messages.
func tail(p *proc) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP waits until url answers want.
func waitHTTP(url string, want int, within time.Duration, p *proc) error {
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if p != nil && p.cmd.ProcessState != nil {
			break
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	msg := ""
	if p != nil {
		msg = "\n" + tail(p)
	}
	return fmt.Errorf("%s did not answer %d within %v%s", url, want, within, msg)
}
