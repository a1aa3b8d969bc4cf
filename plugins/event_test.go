package plugins

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
)

func mapEvent(t *testing.T, h *Host, msg string) (*connectors.MapEventResponse, error) {
	t.Helper()
	c, ok := h.Connector("test")
	if !ok {
		t.Fatal("no connector")
	}
	m, ok := c.(connectors.EventMapper)
	if !ok {
		t.Fatal("the host's connector maps no events")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.MapEvent(ctx, &connectors.MapEventRequest{ConnectionID: "c1", Message: []byte(msg)})
}

// TestMapEventCrashMidMessage: a plugin that dies while mapping a feed's
// message fails that message as a plugin failure (the feed answers AE and
// the sender resends); a new process maps the resend.
func TestMapEventCrashMidMessage(t *testing.T) {
	h := startHost(t, nil)
	waitReady(t, h)
	resp, err := mapEvent(t, h, "ok")
	if err != nil || len(resp.Events) != 1 || !strings.Contains(string(resp.Events[0]), `"connection_id":"c1"`) {
		t.Fatalf("map_event: %v %v", resp, err)
	}
	resp.Release()
	pid := h.PID("test")
	if _, err := mapEvent(t, h, "exit"); !errors.Is(err, ErrPluginFailed) {
		t.Fatalf("crash mid-message: %v", err)
	}
	if _, err := mapEvent(t, h, "panic"); err == nil {
		t.Fatal("a panic mapped")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, err := mapEvent(t, h, "ok")
		if err == nil {
			resp.Release()
			if h.PID("test") == pid {
				t.Fatal("answered by the dead process")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
