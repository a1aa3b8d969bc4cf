package unified

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCodesAreClosedAndComplete: every code has a status and a title, and
// the wire shape of a problem is RFC 9457 plus code, request_id, retryable.
func TestCodesAreClosedAndComplete(t *testing.T) {
	if len(codeStatus) != len(codeTitle) {
		t.Fatalf("%d statuses for %d titles", len(codeStatus), len(codeTitle))
	}
	for _, c := range Codes() {
		if c.Status() < 400 || c.Title() == "" || strings.ToLower(string(c)) != string(c) {
			t.Errorf("%q: status %d title %q", c, c.Status(), c.Title())
		}
	}
	if Code("made_up").Status() != 500 {
		t.Error("unknown code must be 500")
	}
	b, _ := json.Marshal(NewProblem(CodeUpstreamTimeout, "", "rid"))
	want := `{"type":"https://ferry.dev/problems/upstream_timeout","title":"The source system did not answer in time.","status":504,"code":"upstream_timeout","request_id":"rid","retryable":true}`
	if string(b) != want {
		t.Fatalf("wire shape changed:\n got %s\nwant %s", b, want)
	}
}

func TestResourceTypesKnown(t *testing.T) {
	if !Patients.Known() || !DiagnosticReports.Known() || ResourceType("spaceships").Known() {
		t.Fatal("Known is wrong")
	}
}
