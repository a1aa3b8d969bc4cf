package fhir

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
)

var update = flag.Bool("update", false, "rewrite the want.json section of the golden files from the current mapping")

// goldenSource is the provenance every golden case is mapped with, so the
// output does not depend on the clock.
var goldenSource = unified.Source{
	ConnectionID: "conn-golden",
	System:       system,
	FetchedAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

// TestGolden maps the input.json of each testdata/golden/{resource}/*.txtar
// file with that resource's mapping and compares the result with its
// want.json. Run with -update to regenerate the wants after a deliberate
// mapping change, then review the diff. Every mapped resource must have at
// least one golden case.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[unified.ResourceType]bool{}
	for _, file := range files {
		resource := unified.ResourceType(filepath.Base(filepath.Dir(file)))
		m, ok := resourceMaps[resource]
		if !ok {
			t.Errorf("%s: no mapping for resource %q", file, resource)
			continue
		}
		covered[resource] = true
		t.Run(string(resource)+"/"+strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ar := txtar.Parse(data)
			input := ar.Get("input.json")
			if input == nil {
				t.Fatal("no input.json section")
			}
			rec, err := m.record(input, goldenSource, false, false)
			if err != nil {
				t.Fatalf("mapping: %v", err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, rec, "", "  "); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
			got.WriteByte('\n')

			if *update {
				ar.Set("want.json", got.Bytes())
				if err := os.WriteFile(file, ar.Format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := ar.Get("want.json")
			if want == nil {
				t.Fatal("no want.json section; run with -update")
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("mapping differs from want.json\ngot:\n%s\nwant:\n%s", got.Bytes(), want)
			}
		})
	}
	for r := range resourceMaps {
		if !covered[r] {
			t.Errorf("resource %s has no golden case under testdata/golden/%s/", r, r)
		}
	}
}
