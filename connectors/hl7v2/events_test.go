package hl7v2

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// mapEvents maps msg on connection c1 and decodes the events strictly.
func mapEvents(t testing.TB, c *Connector, msg []byte) ([]unified.Event, error) {
	t.Helper()
	resp, err := c.MapEvent(context.Background(), &connectors.MapEventRequest{ConnectionID: "c1", Message: msg})
	if err != nil {
		return nil, err
	}
	out := make([]unified.Event, len(resp.Events))
	for i, raw := range resp.Events {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&out[i]); err != nil {
			t.Fatalf("event %d does not decode as a unified.Event: %v", i, err)
		}
	}
	return out, nil
}

// TestEventGolden maps every message of testdata/events and compares the
// events with the .json beside it (-update rewrites them).
func TestEventGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/events/*.hl7")
	if len(files) < 12 {
		t.Fatalf("found %d test messages", len(files))
	}
	c := newTestConnector(t, `{"id_authority":{"namespace":"RIVERSIDE"}}`)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".hl7")
		t.Run(name, func(t *testing.T) {
			msg, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			events, err := mapEvents(t, c, msg)
			if err != nil {
				t.Fatal(err)
			}
			got := indentJSON(t, events)
			golden := strings.TrimSuffix(f, ".hl7") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v; run with -update", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s\ngot:\n%s", golden, got)
			}
		})
	}
}

// TestEventTypes pins the type of each message, and the shape the webhook
// contract promises: ids, order, the report after its observations.
func TestEventTypes(t *testing.T) {
	c := newTestConnector(t, `{"id_authority":{"namespace":"RIVERSIDE"}}`)
	want := map[string][]unified.EventType{
		"adt_a01": {unified.EncounterStarted}, "adt_a04": {unified.EncounterStarted},
		"adt_a02": {unified.EncounterUpdated}, "adt_a03": {unified.EncounterEnded},
		"adt_a11": {unified.EncounterCancelled}, "adt_a13": {unified.EncounterDischargeCancelled},
		"adt_a08": {unified.PatientUpdated}, "adt_a28": {unified.PatientUpdated}, "adt_a31": {unified.PatientUpdated},
		"adt_a40": {unified.PatientMerged},
	}
	for name, types := range want {
		msg, err := os.ReadFile("testdata/events/" + name + ".hl7")
		if err != nil {
			t.Fatal(err)
		}
		events, err := mapEvents(t, c, msg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(events) != len(types) {
			t.Fatalf("%s: %d events", name, len(events))
		}
		for i, e := range events {
			if e.Type != types[i] || e.ConnectionID != "c1" || e.ID != "" || e.OccurredAt == "" || e.PatientID == "" {
				t.Errorf("%s: event %d: %+v", name, i, e)
			}
		}
	}
	msg, _ := os.ReadFile("testdata/events/adt_a40.hl7")
	events, _ := mapEvents(t, c, msg)
	if events[0].PatientID != "MRN101500" || events[0].MergedPatientID != "MRN109999" {
		t.Errorf("merge: %+v", events[0])
	}
	msg, _ = os.ReadFile("testdata/events/adt_a01.hl7")
	events, _ = mapEvents(t, c, msg)
	if e := events[0].Data.Encounter; e.ID != "V20260301-0042" || e.Class.Code != "IMP" || e.Status != "in-progress" || events[0].OccurredAt != "2026-03-01T08:00:00-05:00" {
		t.Errorf("A01 encounter: %+v (occurred %s)", e, events[0].OccurredAt)
	}

	msg, _ = os.ReadFile("testdata/events/oru_r01_epic.hl7")
	events, _ = mapEvents(t, c, msg)
	var types []string
	for _, e := range events {
		types = append(types, string(e.Type))
	}
	if strings.Join(types, ",") != "observation.created,observation.created,observation.created,diagnostic_report.created" {
		t.Fatalf("ORU types: %v", types)
	}
	report := events[3].Data.DiagnosticReport
	if len(report.Results) != 3 || report.Results[0].ID != events[0].Data.Observation.ID || report.Status != "final" {
		t.Errorf("report: %+v", report)
	}
	if o := events[0].Data.Observation; o.Value == nil || o.Value.String == nil || *o.Value.String != "Negative" || o.Status != "final" {
		t.Errorf("observation: %+v", o)
	}
}

func TestEventRefusals(t *testing.T) {
	c := newTestConnector(t, `{}`)
	for name, msg := range map[string]string{
		"garbage":         "hello",
		"ADT without PID": "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5.1\rPV1|1|I",
		"A01 without PV1": "MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5.1\rPID|1||X1",
		"A40 without MRG": "MSH|^~\\&|A|B|C|D|20260101||ADT^A40|1|P|2.5.1\rPID|1||X1",
		"ORU without OBR": "MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5.1\rPID|1||X1\rOBX|1|NM|1^a||5",
	} {
		_, err := mapEvents(t, c, []byte(msg))
		if connectors.CodeOf(err) != connectors.CodeInvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && (strings.Contains(err.Error(), "X1") || strings.Contains(err.Error(), "hello")) {
			t.Errorf("%s: the error carries message content: %v", name, err)
		}
	}
	// A type the connector does not map gives no events.
	events, err := mapEvents(t, c, []byte("MSH|^~\\&|A|B|C|D|20260101||ORM^O01|1|P|2.5.1\rPID|1||X1"))
	if err != nil || len(events) != 0 {
		t.Fatalf("ORM: %v %v", events, err)
	}
}

// FuzzMapEvent checks that any message maps to events or to an invalid
// argument, never a panic, and that every event decodes as a unified.Event
// with a known type.
//
// Run with: cd connectors && go test ./hl7v2 -run '^$' -fuzz '^FuzzMapEvent$' -fuzztime 60s
func FuzzMapEvent(f *testing.F) {
	files, _ := filepath.Glob("testdata/events/*.hl7")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c := newTestConnector(&testing.T{}, `{"id_authority":{"namespace":"RIVERSIDE"}}`)
	f.Fuzz(func(t *testing.T, msg []byte) {
		resp, err := c.MapEvent(context.Background(), &connectors.MapEventRequest{ConnectionID: "c1", Message: msg})
		if err != nil {
			if connectors.CodeOf(err) != connectors.CodeInvalidArgument {
				t.Fatalf("error %v is not invalid_argument", err)
			}
			return
		}
		for _, raw := range resp.Events {
			var e unified.Event
			if err := json.Unmarshal(raw, &e); err != nil || !e.Type.Known() || e.ConnectionID != "c1" {
				t.Fatalf("event %s: %v", raw, err)
			}
		}
	})
}
