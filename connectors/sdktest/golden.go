package sdktest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
)

// Golden runs one subtest per txtar file matching pattern (for example
// "testdata/golden/patients/*.txtar"). Each file holds one case: a
// free-text comment, the input in its first section (any name but
// want.json and want.error, by convention input.json), and the expected
// output: want.json, the mapped record indented by two spaces, or
// want.error, the connectors.ErrorCode the mapping fails with
// ("upstream"). map turns the input into a record or an error.
//
// With update set (wire it to the test's own -update flag), the expected
// section is rewritten from the current output instead of compared: review
// the diff before committing it. No file matching pattern fails the test.
func Golden(t *testing.T, pattern string, update bool, mapFn func(t *testing.T, input []byte) (json.RawMessage, error)) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden case matches %s", pattern)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ar := txtar.Parse(data)
			var input []byte
			found := false
			for _, f := range ar.Files {
				if f.Name != "want.json" && f.Name != "want.error" {
					input, found = f.Data, true
					break
				}
			}
			if !found {
				t.Fatalf("%s: no input section", file)
			}
			rec, merr := mapFn(t, input)
			section, got := "want.json", []byte(nil)
			if merr != nil {
				section, got = "want.error", []byte(connectors.CodeOf(merr).String()+"\n")
			} else {
				var b bytes.Buffer
				if err := json.Indent(&b, bytes.TrimSpace(rec), "", "  "); err != nil {
					t.Fatalf("output is not JSON: %v", err)
				}
				b.WriteByte('\n')
				got = b.Bytes()
			}
			if update {
				kept := ar.Files[:0]
				for _, f := range ar.Files {
					if f.Name != "want.json" && f.Name != "want.error" {
						kept = append(kept, f)
					}
				}
				ar.Files = kept
				ar.Set(section, got)
				if err := os.WriteFile(file, ar.Format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := ar.Get(section)
			if want == nil {
				if merr != nil {
					t.Fatalf("mapping failed (%v) and the file has no want.error section; run with -update if that is expected", merr)
				}
				t.Fatal("no want.json section; run with -update")
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs\ngot:\n%s\nwant:\n%s", section, got, want)
			}
		})
	}
}
