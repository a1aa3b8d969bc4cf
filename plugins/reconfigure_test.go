package plugins

import (
	"encoding/json"
	"testing"

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
