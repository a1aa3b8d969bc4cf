package plugins

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"
)

// TestWedgedPluginIsRestarted stops the plugin process with SIGSTOP: it is
// alive but answers nothing. The health probes must notice, the host kill
// it, and a new process serve requests.
func TestWedgedPluginIsRestarted(t *testing.T) {
	h := startProbedHost(t)
	waitReady(t, h)
	pid := h.PID("test")
	if pid == 0 {
		t.Fatal("no pid")
	}
	if _, err := read(t, h, "ok", 5*time.Second, nil); err != nil {
		t.Fatalf("healthy plugin: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// If the host never kills it, let the process go at the end.
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })

	stopped := time.Now()
	// Probes every 100 ms, 500 ms each, 3 misses: the kill comes after
	// about 2 s. Allow generously for -race on a loaded machine.
	deadline := stopped.Add(10 * time.Second)
	for {
		// Every call returns by its deadline, also while the stopped
		// process reads nothing from its stream.
		began := time.Now()
		_, err := read(t, h, "ok", 500*time.Millisecond, nil)
		if took := time.Since(began); took > 1500*time.Millisecond {
			t.Fatalf("a call with a 500ms deadline took %v against a wedged plugin", took)
		}
		if err == nil && h.PID("test") != pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stopped plugin (pid %d) was not replaced within 10s", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("replaced %v after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
}

// TestHealthyPluginIsLeftAlone runs probes for a while against a plugin
// that serves: it must keep its process.
func TestHealthyPluginIsLeftAlone(t *testing.T) {
	h := startProbedHost(t)
	waitReady(t, h)
	pid := h.PID("test")
	time.Sleep(1500 * time.Millisecond) // about 15 probes
	if got := h.PID("test"); got != pid {
		t.Fatalf("a healthy plugin was replaced: pid %d, then %d", pid, got)
	}
}

// startProbedHost is startHost with probes frequent enough for a test.
func startProbedHost(t *testing.T) *Host {
	t.Helper()
	path, sum := testPlugin(t)
	spec := Spec{Kind: "test", Path: path, SHA256: sum, Connections: []Connection{{ID: "c1", Settings: json.RawMessage(`{}`)}}}
	h, err := NewHost([]Spec{spec}, Options{MinBackoff: 50 * time.Millisecond, StableAfter: time.Second,
		HealthInterval: 100 * time.Millisecond, HealthTimeout: 500 * time.Millisecond, HealthFailures: 3})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(h.Close)
	return h
}
