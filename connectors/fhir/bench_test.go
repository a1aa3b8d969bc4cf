package fhir

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
)

// Compare runs with benchstat:
//
//	go test ./connectors/fhir -run '^$' -bench . -count 10 > new.txt

// BenchmarkMapPatient maps one Synthea Patient (about 3.5 KB of compact
// JSON), the work of a read after the transport returns.
func BenchmarkMapPatient(b *testing.B) {
	var compact bytes.Buffer
	in := txtar.Parse(readFileB(b, filepath.Join("testdata", "golden", "patients", "synthea-barry-wolf-deceased.txtar"))).Get("input.json")
	if err := json.Compact(&compact, in); err != nil {
		b.Fatal(err)
	}
	in = compact.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := patientRecord(in, goldenSource, false, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapSearchset20 runs a whole search page of 20 Synthea patients
// through the connector: Bundle decoding, mapping, encoding and the next
// page token.
func BenchmarkMapSearchset20(b *testing.B) { benchSearchset(b, false) }

// BenchmarkMapSearchset20Raw is the same page with raw=true.
func BenchmarkMapSearchset20Raw(b *testing.B) { benchSearchset(b, true) }

func benchSearchset(b *testing.B, raw bool) {
	body := searchset20(b)
	c := newConnector()
	if _, err := c.Configure(context.Background(), &connectors.ConfigureRequest{ConnectionID: "c1"}); err != nil {
		b.Fatal(err)
	}
	tr := &fakeTransport{handle: func(*connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
		return &connectors.HTTPResponse{Status: 200, Body: body}, nil
	}}
	req := &connectors.SearchRequest{ConnectionID: "c1", Resource: unified.Patients, Limit: 20, Raw: raw, Transport: tr}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		tr.reqs = tr.reqs[:0]
		resp, err := c.Search(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Records) != 20 || resp.NextPageToken == "" {
			b.Fatalf("%d records, token %q", len(resp.Records), resp.NextPageToken)
		}
	}
}

// searchset20 builds a searchset Bundle of 20 Synthea patients, taken in
// turn from the sandbox's data, with absolute self and next links.
func searchset20(b *testing.B) []byte {
	var patients []json.RawMessage
	if err := json.Unmarshal(readFileB(b, filepath.Join("sandbox", "data", "patients.json")), &patients); err != nil {
		b.Fatal(err)
	}
	const base = "http://src.example/fhir/R4"
	entries := make([]string, 20)
	for i := range entries {
		p := patients[i%len(patients)]
		var id struct{ ID string }
		json.Unmarshal(p, &id)
		// Sources send compact JSON; the embedded data is indented.
		var compact bytes.Buffer
		if err := json.Compact(&compact, p); err != nil {
			b.Fatal(err)
		}
		entries[i] = `{"fullUrl":"` + base + `/Patient/` + id.ID + `","resource":` + compact.String() + `,"search":{"mode":"match"}}`
	}
	return []byte(bundleJSON(base+"/Patient?_count=20", base+"/Patient?_count=20&_offset=20", 100, entries...))
}

func readFileB(b *testing.B, path string) []byte {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}
