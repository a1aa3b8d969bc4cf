//go:build unix

package testpeer

import (
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// motoStartTimeout bounds moto_server's start-up; it is normally ready in
// about two seconds.
const motoStartTimeout = 30 * time.Second

// Moto is a running moto_server: an AWS emulator answering Secrets Manager,
// STS, KMS, CloudWatch Logs, Kinesis, Firehose and S3 on one port.
type Moto struct {
	// Endpoint is http://127.0.0.1:PORT, the base endpoint to give
	// aws-sdk-go-v2 clients (with static credentials and, for S3,
	// path-style addressing).
	Endpoint string

	cmd      *exec.Cmd
	stderr   *tailBuffer
	exited   chan struct{}
	stopOnce sync.Once
}

// StartMoto starts moto_server on 127.0.0.1 and returns once it answers. It
// is stopped when the test ends. A missing moto_server fails the test (it
// cannot be installed here), rather than skipping it silently.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("moto peer: moto_server not found (%v); it ships with the image's Python and cannot be installed offline", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("moto peer: %v", err)
	}
	m := &Moto{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		stderr:   &tailBuffer{max: maxStderr},
		exited:   make(chan struct{}),
	}
	m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	m.cmd.Stdout = m.stderr
	m.cmd.Stderr = m.stderr
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	m.cmd.WaitDelay = stopGrace
	start := time.Now()
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("moto peer: starting moto_server: %v", err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("moto peer output:\n%s", m.stderr.String())
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(motoStartTimeout)
	for {
		resp, err := client.Get(m.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-m.exited:
			t.Fatalf("moto peer exited during start-up (%v)", m.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto peer: not ready after %s", motoStartTimeout)
		}
	}
	t.Logf("moto peer ready at %s in %s", m.Endpoint, time.Since(start).Round(time.Millisecond))
	return m
}

// Reset drops every resource moto holds, for tests that share one server.
func (m *Moto) Reset(t testing.TB) {
	t.Helper()
	resp, err := http.Post(m.Endpoint+"/moto-api/reset", "", nil)
	if err != nil {
		t.Fatalf("moto peer: reset: %v", err)
	}
	resp.Body.Close()
}

// Stop stops moto_server (SIGTERM, then SIGKILL after a grace period). Safe
// to call more than once; called automatically when the test ends.
func (m *Moto) Stop() {
	m.stopOnce.Do(func() { stopGroup(m.cmd, m.exited) })
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before the peer binds it; a collision in between fails start-up
// loudly rather than silently reaching another process. The kernel may
// hand a just-closed port out again, so a port is never returned twice in
// one test binary (a test that starts several peers and listeners would
// otherwise get two of them on one port).
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !portsGiven[port] {
			portsGiven[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no fresh loopback port in 100 tries")
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// FreeAddr is a 127.0.0.1 address nothing listens on, never one freePort
// gave out before in this test binary: for the listeners of the system
// under test, so they cannot collide with each other or with a peer's.
func FreeAddr(t testing.TB) string {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}
