package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ferryhealth/ferry/connectors/conformance/escape"
)

// The sandbox check. The kit itself has no sandbox: the host has one
// (Options.Sandbox, which `ferry plugin check` sets to the host's own), and
// the kit checks two things about it. The plugin under test must run under
// it: the kernel's own view of the process (/proc/<pid>/status) shows
// no_new_privs and a seccomp filter. And the sandbox must hold: a probe, the
// kit's own binary re-executed in it with probeArg0, tries every escape of
// package escape against listeners and files the kit set up, and each must
// fail. A plugin that behaves is no evidence the sandbox works; the probe
// is one that does not behave.

// probeArg0 makes a binary that links this package run the escape probe
// instead of its main: argv[1] is the escape.Targets as JSON; it prints the
// attempts as JSON on stdout, one line, then tries to exec /bin/sh in its
// own place and prints that attempt on a second line if it is still there.
const probeArg0 = "ferry-conformance-escape-probe"

func init() {
	if len(os.Args) != 2 || os.Args[0] != probeArg0 {
		return
	}
	var t escape.Targets
	if err := json.Unmarshal([]byte(os.Args[1]), &t); err != nil {
		os.Exit(2)
	}
	t.ExecInPlace = false
	b, _ := json.Marshal(escape.Try(t))
	os.Stdout.Write(append(b, '\n'))
	b, _ = json.Marshal(escape.ExecInPlace())
	os.Stdout.Write(append(b, '\n'))
	os.Exit(0)
}

// procStatus returns the fields of /proc/<pid>/status.
func procStatus(pid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

func (k *kit) sandboxCheck() Result {
	const name = "sandbox"
	if k.o.Sandbox == nil {
		return Result{Name: name, Status: Skip, Reason: "no sandbox given: the kit has none of its own (ferry plugin check runs the plugin in Ferry's)"}
	}
	var p problems
	same := k.underSandbox(&p)
	attempts, arrived, err := k.runProbe()
	if err != nil {
		p.add("the escape probe: %v", err)
	}
	var blocked []string
	count := map[string]int{}
	for _, a := range attempts {
		if !a.Blocked() {
			p.add("a probe in the same sandbox escaped: %s", a)
			continue
		}
		if count[a.Name]++; count[a.Name] == 1 {
			blocked = append(blocked, a.Name)
		}
	}
	for i, n := range blocked {
		if count[n] > 1 {
			blocked[i] = fmt.Sprintf("%s ×%d", n, count[n])
		}
	}
	if err == nil && len(attempts) == 0 {
		p.add("the escape probe reported nothing")
	}
	if arrived > 0 {
		p.add("%d connections or datagrams from the probe reached the kit's listeners", arrived)
	}
	return p.result(name, fmt.Sprintf("in the host's sandbox (no_new_privs, a seccomp filter) the plugin starts, configures and answers %d operation(s) as it does outside; a probe in the same sandbox failed all %d escapes (%s)",
		same, len(attempts), strings.Join(blocked, ", ")))
}

// underSandbox starts the plugin again through Options.Sandbox, checks the
// kernel's view of the process, and calls each operation once on it and
// once on the plugin outside the sandbox with the same source answers:
// the outcomes must agree (a plugin that reads a file or dials out would
// work in the kit and break in the host). It returns how many agreed.
func (k *kit) underSandbox(p *problems) int {
	if r := k.ready(); r != "" {
		p.add("not started in the sandbox: %s", r)
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.o.StartTimeout)
	defer cancel()
	sp, err := launch(ctx, &k.o, k.ft, true)
	if err != nil {
		p.add("the plugin does not start in the host's sandbox: %v", err)
		return 0
	}
	defer sp.close()
	st, err := procStatus(sp.pid)
	switch {
	case err != nil:
		p.add("cannot read the sandboxed plugin's status: %v", err)
	case st["NoNewPrivs"] != "1" || st["Seccomp"] != "2":
		p.add("the plugin does not run in the sandbox: NoNewPrivs %s, Seccomp %s (want 1 and 2, a filter)", st["NoNewPrivs"], st["Seccomp"])
	}
	outside := k.p
	defer func() { k.p = outside }()
	if o := func() outcome { k.p = sp; return k.configure(connID, k.o.Settings) }(); !o.is("ok") {
		p.add("in the sandbox, configure gave %s", o.describe())
		return 0
	}
	src := answer(200, "application/json", []byte(`{}`))
	if k.upstream != nil {
		src = forward(k.upstream)
	}
	same := 0
	for _, t := range k.targets {
		label := t.String()
		k.p = outside
		want := k.do(t, label+" outside the sandbox", src, k.o.CallTimeout)
		k.p = sp
		got := k.do(t, label+" in the sandbox", src, k.o.CallTimeout)
		if got.code() != want.code() {
			p.add("%s: %s in the sandbox, %s outside it", label, got.describe(), want.describe())
			continue
		}
		same++
	}
	if sp.exited() {
		p.add("the plugin process exited in the sandbox%s", sp.stderr.excerpt())
	}
	return same
}

// runProbe starts the kit's own binary as the escape probe through
// Options.Sandbox, in the kit's network namespace (so a TCP connection to
// the kit's 127.0.0.1 listener is the sandbox's to stop), and returns what
// it reported and how much reached the kit's listeners.
func (k *kit) runProbe() ([]escape.Attempt, int64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	var arrived atomic.Int64
	count := func(ln net.Listener) {
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
		return nil, 0, err
	}
	defer tcp.Close()
	count(tcp)
	abstract := fmt.Sprintf("ferry-conformance-%d-%d", os.Getpid(), time.Now().UnixNano())
	abs, err := net.Listen("unix", "@"+abstract)
	if err != nil {
		return nil, 0, err
	}
	defer abs.Close()
	count(abs)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	defer udp.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := udp.ReadFrom(buf); err != nil {
				return
			}
			arrived.Add(1)
		}
	}()
	dir, err := os.MkdirTemp("", "ferry-conformance-probe")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	// What a hostile plugin would want to read: a config with a secret,
	// and a file planted beside it.
	files := []string{filepath.Join(dir, "ferry.json"), filepath.Join(dir, "planted.txt")}
	for _, f := range files {
		if err := os.WriteFile(f, []byte(`{"secret":"conformance-canary"}`), 0o600); err != nil {
			return nil, 0, err
		}
	}
	socketDir := filepath.Join(dir, "plugin-dir")
	if err := os.Mkdir(socketDir, 0o700); err != nil {
		return nil, 0, err
	}
	targets, _ := json.Marshal(escape.Targets{
		TCP: tcp.Addr().String(), UDP: udp.LocalAddr().String(), Abstract: abstract,
		Dirs: []string{dir}, Files: files, Parent: os.Getpid(), Forks: 16, ExecInPlace: true,
	})
	cmd := exec.Command(self)
	cmd.Args = []string{probeArg0, string(targets)}
	cmd.Env = []string{"PLUGIN_UNIX_SOCKET_DIR=" + socketDir}
	r, err := k.o.Sandbox(hclog.NewNullLogger(), cmd, socketDir)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.o.StartTimeout)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		return nil, 0, err
	}
	defer func() { _ = r.Kill(context.Background()); _ = r.Wait(context.Background()) }()
	go func() { _, _ = io.Copy(io.Discard, r.Stderr()) }()
	type result struct {
		lines [2][]byte
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		br := bufio.NewReader(r.Stdout())
		for i := range res.lines {
			if res.lines[i], res.err = br.ReadBytes('\n'); res.err != nil {
				break
			}
		}
		done <- res
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(k.o.CallTimeout + 10*time.Second):
		return nil, arrived.Load(), fmt.Errorf("no report within %v", k.o.CallTimeout+10*time.Second)
	}
	var attempts []escape.Attempt
	if err := json.Unmarshal(res.lines[0], &attempts); err != nil {
		return nil, arrived.Load(), fmt.Errorf("no readable report (%v): the probe died", res.err)
	}
	var inPlace escape.Attempt
	if err := json.Unmarshal(res.lines[1], &inPlace); err != nil {
		// The probe said nothing after trying: /bin/sh took its place.
		inPlace = escape.Attempt{Name: "execve_in_place", Target: "/bin/sh"}
	}
	return append(attempts, inPlace), arrived.Load(), nil
}
