package main

import (
	"encoding/json"
	"flag"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/sdktest"
	"github.com/ferryhealth/ferry/unified"
)

var update = flag.Bool("update", false, "rewrite the expected sections of the golden files from the current mapping")

// TestGoldenPatients maps the input of each testdata/golden/patients/*.txtar
// case and compares it with the case's want.json (or want.error). After a
// deliberate mapping change: go test -run TestGoldenPatients -update, then
// review the diff.
func TestGoldenPatients(t *testing.T) {
	src := unified.Source{ConnectionID: "golden", System: Kind, FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := &Settings{MRNSystem: "urn:templatekind:mrn"}
	sdktest.Golden(t, "testdata/golden/patients/*.txtar", *update, func(t *testing.T, in []byte) (json.RawMessage, error) {
		return mapPatient(in, src, s, false)
	})
}

// TestAgainstRecordedSource runs the connector in-process against the
// recorded answers of testdata/upstream.txtar, with the host's rules.
func TestAgainstRecordedSource(t *testing.T) {
	h := sdktest.New(t, New(), sdktest.Options{Recordings: []string{"testdata/upstream.txtar"}})
	rec, err := h.Read(unified.Patients, "tk-1")
	if err != nil {
		t.Fatal(err)
	}
	var p unified.Patient
	if err := json.Unmarshal(rec, &p); err != nil || p.BirthDate != "1970-04-25" || p.Gender != "female" || p.Identifiers[0].Value != "MRN-0001" {
		t.Fatalf("read: %s %v", rec, err)
	}
	if _, err := h.Read(unified.Patients, "tk-404"); connectors.CodeOf(err) != connectors.CodeNotFound {
		t.Fatalf("missing patient: %v", err)
	}
	all, err := h.SearchAll(unified.Patients, map[string]string{"name": "Doe"}, 2, 5)
	if err != nil || len(all) != 3 {
		t.Fatalf("search over two pages: %d records, %v", len(all), err)
	}
}
