package auditlogtest

import (
	"bytes"
	"context"
	"testing"

	"github.com/ferryhealth/ferry/auditlog"
)

func TestRecorderKeepsEventsInOrder(t *testing.T) {
	var lines bytes.Buffer
	r := &Recorder{Lines: &lines}
	if err := r.Admit("acme"); err != nil {
		t.Fatalf("Admit: %v", err)
	}
	e := &auditlog.Event{RequestID: "1", Tenant: "acme", Action: auditlog.ActionRead}
	r.Emit(context.Background(), e)
	e.RequestID = "2" // the caller may reuse its event
	r.Emit(context.Background(), e)
	r.Emit(context.Background(), nil)
	evs := r.Events()
	if len(evs) != 2 || evs[0].RequestID != "1" || evs[1].RequestID != "2" || evs[0].Time.IsZero() {
		t.Fatalf("recorded %+v", evs)
	}
	if n := bytes.Count(lines.Bytes(), []byte("\n")); n != 2 || !bytes.Contains(lines.Bytes(), []byte(`"request_id":"2"`)) {
		t.Fatalf("lines %q", lines.String())
	}
}
