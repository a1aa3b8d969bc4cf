package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

// Writes through the in-process FHIR connector against the sandbox, which
// keeps them in memory. The real binary against Medplum is
// cmd/ferry/writes_e2e_test.go.

const keyWriter = "key-demo-writer"

func withWriter(c map[string]any) {
	c["clients"] = append(c["clients"].([]any), map[string]any{
		"id": "demo-writer", "tenant": "demo", "api_key_sha256": sha(keyWriter),
		"connections": []string{"demo"}, "scopes": []string{"read", "write"},
	})
	c["limits"].(map[string]any)["max_request_body_bytes"] = 64 << 10
}

func appointmentBody(patient, description string) string {
	return `{"status":"booked","start":"2027-02-01T09:00:00Z","end":"2027-02-01T09:20:00Z",` +
		`"description":"` + description + `","patient":{"resource":"patients","id":"` + patient + `"}}`
}

func TestWrites(t *testing.T) {
	e := start(t, withWriter)
	patient := e.sb.RecordPatientIDs()[0]

	// The read scope does not write; the write scope does.
	if r := e.do(t, "POST", "/v1/demo/appointments", keyDemo, strings.NewReader(appointmentBody(patient, "x")), "Idempotency-Key", "k1"); r.status != 403 {
		t.Fatalf("write without the scope: %d %s", r.status, r.body)
	}
	r := e.do(t, "POST", "/v1/demo/appointments", keyWriter, strings.NewReader(appointmentBody(patient, "Dental check")), "Idempotency-Key", "k1")
	var a unified.Appointment
	if r.status != 201 || json.Unmarshal(r.body, &a) != nil || a.Description != "Dental check" || r.header.Get("ETag") != `W/"1"` ||
		r.header.Get("Location") != "/v1/demo/appointments/"+a.ID {
		t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
	}
	// The same key and body again: the same record, nothing written.
	again := e.do(t, "POST", "/v1/demo/appointments", keyWriter, strings.NewReader(appointmentBody(patient, "Dental check")), "Idempotency-Key", "k1")
	if again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" || !strings.Contains(string(again.body), `"id":"`+a.ID+`"`) {
		t.Fatalf("replay: %d %v %s", again.status, again.header, again.body)
	}
	// Spacing and key order are not a different body.
	reordered := `{"patient":{"id":"` + patient + `","resource":"patients"},"description":"Dental check","end":"2027-02-01T09:20:00Z",` +
		"\n" + `"start":"2027-02-01T09:00:00Z","status":"booked"}`
	if r := e.do(t, "POST", "/v1/demo/appointments", keyWriter, strings.NewReader(reordered), "Idempotency-Key", "k1"); r.status != 200 {
		t.Fatalf("replay of the same record written otherwise: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/demo/appointments", keyWriter, strings.NewReader(appointmentBody(patient, "Other")), "Idempotency-Key", "k1"); r.status != 422 ||
		!strings.Contains(string(r.body), `"idempotency_key_reused"`) {
		t.Fatalf("key reused: %d %s", r.status, r.body)
	}
	// Reads show the version; an update needs it, and a stale one is refused.
	got := e.do(t, "GET", "/v1/demo/appointments/"+a.ID, keyWriter, nil)
	if got.status != 200 || got.header.Get("ETag") != `W/"1"` {
		t.Fatalf("read: %d %v", got.status, got.header)
	}
	if r := e.do(t, "PATCH", "/v1/demo/appointments/"+a.ID, keyWriter, strings.NewReader(`{"status":"cancelled"}`)); r.status != 428 {
		t.Fatalf("update without If-Match: %d %s", r.status, r.body)
	}
	up := e.do(t, "PATCH", "/v1/demo/appointments/"+a.ID, keyWriter, strings.NewReader(`{"status":"cancelled"}`), "If-Match", `W/"1"`)
	if up.status != 200 || up.header.Get("ETag") != `W/"2"` || !strings.Contains(string(up.body), `"status":"cancelled"`) ||
		!strings.Contains(string(up.body), `"description":"Dental check"`) {
		t.Fatalf("update: %d %v %s", up.status, up.header, up.body)
	}
	stale := e.do(t, "PATCH", "/v1/demo/appointments/"+a.ID, keyWriter, strings.NewReader(`{"status":"booked"}`), "If-Match", `W/"1"`)
	if stale.status != 412 || stale.header.Get("ETag") != `W/"2"` || !strings.Contains(string(stale.body), `"version_conflict"`) {
		t.Fatalf("stale update: %d %v %s", stale.status, stale.header, stale.body)
	}

	// Capabilities say what this connection writes, and whether the client may.
	caps := e.do(t, "GET", "/v1/demo/capabilities", keyWriter, nil)
	var c unified.Capabilities
	_ = json.Unmarshal(caps.body, &c)
	writes := map[unified.ResourceType]bool{}
	for _, rc := range c.Resources {
		if rc.Create || rc.Update {
			writes[rc.Resource] = true
		}
	}
	if !c.Write || len(writes) != 3 || !writes[unified.Appointments] || !writes[unified.Documents] || !writes[unified.Observations] {
		t.Fatalf("capabilities: write %v, writable %v", c.Write, writes)
	}
	if r := e.do(t, "POST", "/v1/demo/patients", keyWriter, strings.NewReader(`{}`), "Idempotency-Key", "k2"); r.status != 400 ||
		!strings.Contains(string(r.body), `"unsupported"`) {
		t.Fatalf("create of a resource that is not written: %d %s", r.status, r.body)
	}

	// Metrics count writes by their route templates, with status and code.
	if n := metricLabels(t, e.srv, "ferry_requests_total", "route", routeCreate, "status", "201"); n != 1 {
		t.Fatalf("ferry_requests_total{route=%q,status=201} = %v", routeCreate, n)
	}
	if n := metricLabels(t, e.srv, "ferry_requests_total", "route", routeUpdate, "code", "version_conflict"); n != 1 {
		t.Fatalf("ferry_requests_total{route=%q,code=version_conflict} = %v", routeUpdate, n)
	}

	// The audit trail: the action, keyed references, never the body or key.
	var creates, updates int
	for _, ev := range e.audit.events(t) {
		switch ev["action"] {
		case "create":
			creates++
		case "update":
			updates++
			if ev["status"] == 200.0 && (ev["record_ref"] == nil || ev["patient_ref"] == nil) {
				t.Fatalf("update event without references: %v", ev)
			}
		}
	}
	if creates != 6 || updates != 3 {
		t.Fatalf("%d create and %d update events", creates, updates)
	}
	for _, s := range []string{"Dental check", `"k1"`, a.ID, patient} {
		if strings.Contains(e.audit.String(), s) {
			t.Fatalf("%q in the audit trail", s)
		}
	}
}

// TestWriteValidation: every problem of a body, each with its JSON path,
// and nothing sent to the source.
func TestWriteValidation(t *testing.T) {
	e := start(t, withWriter)
	for _, c := range []struct {
		name, resource, body string
		want                 []unified.FieldProblem
	}{
		{"not JSON", "appointments", `{"status":`, []unified.FieldProblem{{Path: "$.status", Reason: unified.ReasonInvalid}}},
		{"not an object", "appointments", `[1]`, []unified.FieldProblem{{Path: "$", Reason: unified.ReasonWrongType}}},
		{"everything at once", "appointments",
			`{"id":"x","source":{},"status":"maybe","start":"soon","colour":"red","priority":"high","participants":[{"status":"sure"}]}`,
			[]unified.FieldProblem{
				{Path: "$.colour", Reason: unified.ReasonUnknownField}, {Path: "$.end", Reason: unified.ReasonRequired},
				{Path: "$.id", Reason: unified.ReasonReadOnly}, {Path: "$.patient", Reason: unified.ReasonRequired},
				{Path: "$.priority", Reason: unified.ReasonWrongType}, {Path: "$.source", Reason: unified.ReasonReadOnly},
			}},
		{"values", "appointments",
			`{"status":"maybe","start":"soon","end":"2027-02-01T09:20:00Z","patient":{"resource":"practitioners","id":"p"},"participants":[{"status":"sure"}]}`,
			[]unified.FieldProblem{
				{Path: "$.participants[0].status", Reason: unified.ReasonInvalidCode}, {Path: "$.patient.resource", Reason: unified.ReasonInvalidCode},
				{Path: "$.start", Reason: unified.ReasonInvalidDate}, {Path: "$.status", Reason: unified.ReasonInvalidCode},
			}},
		{"a key that is free text is not echoed", "observations", `{"Jane Doe 1970-01-01":1}`,
			[]unified.FieldProblem{
				{Path: "$.code", Reason: unified.ReasonRequired}, {Path: "$.effective_at", Reason: unified.ReasonRequired},
				{Path: "$.patient", Reason: unified.ReasonRequired}, {Path: "$.status", Reason: unified.ReasonRequired},
				{Path: "$[?]", Reason: unified.ReasonUnknownField},
			}},
		{"a document's content", "documents",
			`{"status":"current","type":{"text":"Note"},"patient":{"resource":"patients","id":"p"},"contents":[{"attachment":{"data":"%%%"}}]}`,
			[]unified.FieldProblem{{Path: "$.contents[0].attachment.content_type", Reason: unified.ReasonRequired}}},
		{"a value of the wrong kind", "observations",
			`{"status":"final","code":{"text":"Pain"},"patient":{"resource":"patients","id":"p"},"effective_at":"2027-01-01","value":{"type":"quantity","string":"7"}}`,
			[]unified.FieldProblem{{Path: "$.value.quantity", Reason: unified.ReasonInvalid}, {Path: "$.value.string", Reason: unified.ReasonInvalid}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, "POST", "/v1/demo/"+c.resource, keyWriter, strings.NewReader(c.body), "Idempotency-Key", "v")
			var p unified.Problem
			if r.status != 400 || json.Unmarshal(r.body, &p) != nil || p.Code != unified.CodeInvalidBody {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if len(p.Errors) != len(c.want) {
				t.Fatalf("errors %+v, want %+v", p.Errors, c.want)
			}
			for i := range c.want {
				if p.Errors[i] != c.want[i] {
					t.Fatalf("errors %+v, want %+v", p.Errors, c.want)
				}
			}
			if strings.Contains(string(r.body), "Jane") {
				t.Fatalf("the body's text in the problem: %s", r.body)
			}
		})
	}
	// An update may change only what the resource lets it.
	r := e.do(t, "PATCH", "/v1/demo/appointments/a1", keyWriter, strings.NewReader(`{"patient":null,"status":"cancelled"}`), "If-Match", `"1"`)
	if r.status != 400 || !strings.Contains(string(r.body), `{"path":"$.patient","reason":"not_updatable"}`) {
		t.Fatalf("not updatable: %d %s", r.status, r.body)
	}
	for _, ev := range e.audit.events(t) {
		if ev["latency_upstream_us"] != nil {
			t.Fatalf("a refused write reached the source: %v", ev)
		}
	}
}
