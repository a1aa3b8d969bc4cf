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
			ar := parseArchive(data)
			input := ar.file("input.json")
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
				ar.set("want.json", got.Bytes())
				if err := os.WriteFile(file, ar.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := ar.file("want.json")
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

// archive is a txtar archive: a free-text comment, then files, each after a
// "-- name --" line. It is parsed here rather than with
// golang.org/x/tools/txtar to keep that module out of go.mod for one small
// format.
type archive struct {
	comment []byte
	files   []archiveFile
}

type archiveFile struct {
	name string
	data []byte
}

func parseArchive(data []byte) *archive {
	ar := &archive{}
	cur := &ar.comment
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if name, ok := markerName(trimmed); ok {
			ar.files = append(ar.files, archiveFile{name: name})
			cur = &ar.files[len(ar.files)-1].data
			continue
		}
		*cur = append(*cur, line...)
	}
	return ar
}

func markerName(line []byte) (string, bool) {
	s := string(line)
	if !strings.HasPrefix(s, "-- ") || !strings.HasSuffix(s, " --") || len(s) < len("-- x --") {
		return "", false
	}
	name := strings.TrimSpace(s[3 : len(s)-3])
	return name, name != ""
}

func (ar *archive) file(name string) []byte {
	for _, f := range ar.files {
		if f.name == name {
			return f.data
		}
	}
	return nil
}

func (ar *archive) set(name string, data []byte) {
	for i := range ar.files {
		if ar.files[i].name == name {
			ar.files[i].data = data
			return
		}
	}
	ar.files = append(ar.files, archiveFile{name: name, data: data})
}

func (ar *archive) format() []byte {
	var b bytes.Buffer
	b.Write(ar.comment)
	for _, f := range ar.files {
		b.WriteString("-- " + f.name + " --\n")
		b.Write(f.data)
		if len(f.data) > 0 && f.data[len(f.data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// TestArchiveRoundTrip keeps the little txtar parser honest: formatting a
// parsed archive gives the same bytes back.
func TestArchiveRoundTrip(t *testing.T) {
	in := []byte("comment line\n-- a.json --\n{\"a\": 1}\n-- b.json --\n\n-- not a marker\n")
	ar := parseArchive(in)
	if got := string(ar.file("a.json")); got != "{\"a\": 1}\n" {
		t.Errorf("a.json = %q", got)
	}
	if got := string(ar.file("b.json")); got != "\n-- not a marker\n" {
		t.Errorf("b.json = %q", got)
	}
	if !bytes.Equal(ar.format(), in) {
		t.Errorf("format = %q, want %q", ar.format(), in)
	}
}
