package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/plugins/sandbox"
	"github.com/ferryhealth/ferry/unified"
)

// TestSetConnections: a connection added by a reload is configured in the
// running process (its templates are used at once), without a restart;
// the new list is what a restart configures.
func TestSetConnections(t *testing.T) {
	h := startHost(t, func(s *Spec) {
		s.Connections = []Connection{{ID: "a", Settings: json.RawMessage(`{}`)}}
	})
	waitReady(t, h)
	pid := h.PID("test")
	w := wireOf(t, h)
	if w.template("d", unified.Patients) != nil {
		t.Fatal("d has templates before it was configured")
	}
	conns := []Connection{{ID: "a", Settings: json.RawMessage(`{}`)}, {ID: "d", Settings: json.RawMessage(`{"templates":true}`)}}
	if err := h.SetConnections(t.Context(), "test", conns); err != nil {
		t.Fatal(err)
	}
	if tpl := w.template("d", unified.Patients); tpl == nil || tpl.Read == nil {
		t.Fatalf("d was not configured in the running plugin: %+v", tpl)
	}
	if h.PID("test") != pid {
		t.Fatal("the plugin was restarted")
	}
	if got := h.instances["test"].spec.Connections; len(got) != 2 {
		t.Fatalf("the spec a restart configures: %+v", got)
	}
	if err := h.SetConnections(t.Context(), "nope", conns); err == nil {
		t.Fatal("an unknown kind was accepted")
	}
}

// TestReplace: a reload that changes the plugin's binary starts the new
// process beside the old; calls keep succeeding across the switch, new
// calls reach the new process, and a call in flight on the old one is
// left to finish (here: to its own deadline) rather than cut off.
func TestReplace(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	oldPID := h.PID("test")
	path, sum := testPlugin(t)
	moved := filepath.Join(t.TempDir(), "testplugin-v2")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, b, 0o755); err != nil {
		t.Fatal(err)
	}
	hung := make(chan error, 1)
	go func() {
		_, err := read(t, h, "hang", 1500*time.Millisecond, &fakeTransport{})
		hung <- err
	}()
	time.Sleep(200 * time.Millisecond) // the hang call is in flight on the old process
	if err := h.Replace("test", moved, sum, sandbox.ModeRequired); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for h.PID("test") == oldPID {
		if _, err := read(t, h, "ok", 5*time.Second, &fakeTransport{}); err != nil {
			t.Fatalf("a call failed during the replacement: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the plugin was not replaced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := read(t, h, "ok", 5*time.Second, &fakeTransport{})
	if err != nil || !strings.Contains(string(resp.Record), fmt.Sprint(h.PID("test"))) {
		t.Fatalf("a call after the replacement: %v %s", err, resp.Record)
	}
	if err := <-hung; errors.Is(err, ErrPluginFailed) {
		t.Fatalf("the call in flight on the old process was cut off: %v", err)
	}
	waitFor := time.Now().Add(5 * time.Second)
	for alive(oldPID) && time.Now().Before(waitFor) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(oldPID) {
		t.Fatal("the old process outlived its last call")
	}
	if err := h.Replace("test", moved, []byte{1}, sandbox.ModeRequired); err == nil {
		t.Fatal("a short digest was accepted")
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestCallsLetGoOfTheProcess: every kind of call releases the process it
// held, answered or refused, so a replaced process is not kept waiting
// for calls that ended long ago.
func TestCallsLetGoOfTheProcess(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	i := h.instances["test"]
	ctx := t.Context()
	_, _ = i.Metadata(ctx, &connectors.MetadataRequest{})
	_, _ = i.MapEvent(ctx, &connectors.MapEventRequest{ConnectionID: "a"})
	_, _ = i.Create(ctx, &connectors.CreateRequest{ConnectionID: "a", Resource: unified.Appointments})
	_, _ = i.Update(ctx, &connectors.UpdateRequest{ConnectionID: "a", Resource: unified.Appointments, ID: "x"})
	_, l := i.snapshot()
	if l == nil {
		t.Fatal("no running process")
	}
	if n := l.users.Load(); n != 0 {
		t.Fatalf("%d calls still hold the process", n)
	}
}
