package hl7v2

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
)

var update = flag.Bool("update", false, "rewrite the want sections of the golden files from the current code")

// goldenSource is the provenance every golden case is mapped with, so the
// output does not depend on the clock.
var goldenSource = unified.Source{
	ConnectionID: "conn-golden",
	System:       system,
	FetchedAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

// The control id and query tag every golden answer responds to.
const (
	goldenControlID = "MSG00001"
	goldenQueryTag  = "TAG00001"
)

// goldenAnswer is what a golden response case checks: the mapped patients
// and paging, or the error.
type goldenAnswer struct {
	Patients     []json.RawMessage `json:"patients,omitempty"`
	Continuation string            `json:"continuation,omitempty"`
	Hits         []int             `json:"hits,omitempty"`
	Error        *goldenError      `json:"error,omitempty"`
}

type goldenError struct {
	Code string    `json:"code"`
	Ack  *AckError `json:"ack,omitempty"`
}

// TestGoldenResponses parses the input.hl7 of each
// testdata/golden/response/*.txtar as an answer to control id MSG00001 and
// query tag TAG00001, maps its patients with the mapping.json section (a
// PatientMapping, default zero) and compares with want.json. The inputs
// are RSP^K22 answers written for Ferry from the HL7 v2.5 and IHE ITI-21
// specifications, one line per segment. Run with -update to regenerate the
// wants after a deliberate change, then review the diff.
func TestGoldenResponses(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "response", "*.txtar"))
	if len(files) == 0 {
		t.Fatal("no golden response cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar := readArchive(t, file)
			var pm PatientMapping
			if mj := ar.Get("mapping.json"); mj != nil {
				if err := json.Unmarshal(mj, &pm); err != nil {
					t.Fatalf("mapping.json: %v", err)
				}
			}
			input := ar.Get("input.hl7")
			if input == nil {
				t.Fatal("no input.hl7 section")
			}
			var got goldenAnswer
			resp, err := ParsePDQResponse(cr(strings.TrimSuffix(string(input), "\n")), goldenControlID, goldenQueryTag)
			if err != nil {
				var ce *connectors.Error
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a *connectors.Error", err)
				}
				got.Error = &goldenError{Code: ce.Code.String()}
				errors.As(err, &got.Error.Ack)
				assertNoContent(t, err, input)
			} else {
				got.Continuation = resp.Continuation
				got.Hits = []int{resp.Total, resp.Payload, resp.Remaining}
				for _, pid := range resp.Patients {
					rec, err := json.Marshal(pm.Patient(pid, goldenSource, true))
					if err != nil {
						t.Fatal(err)
					}
					got.Patients = append(got.Patients, rec)
				}
			}
			compareGolden(t, ar, file, "want.json", indentJSON(t, got))
		})
	}
}

// TestGoldenQueries builds the QBP^Q22 of the PDQQuery in each
// testdata/golden/query/*.txtar input.json and compares it, one segment per
// line, with want.hl7; the query must also parse back to the same values.
func TestGoldenQueries(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "query", "*.txtar"))
	if len(files) == 0 {
		t.Fatal("no golden query cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar := readArchive(t, file)
			var q PDQQuery
			dec := json.NewDecoder(bytes.NewReader(ar.Get("input.json")))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&q); err != nil {
				t.Fatalf("input.json: %v", err)
			}
			m, err := q.Message()
			if err != nil {
				t.Fatalf("Message: %v", err)
			}
			out, err := m.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.HasSuffix(out, []byte("\r")) || bytes.Contains(out, []byte("\n")) {
				t.Error("segments must end in CR, and only CR")
			}
			back := mustParse(t, out)
			if !equalValues(back, m) {
				t.Error("the query does not parse back to the values it was built from")
			}
			compareGolden(t, ar, file, "want.hl7", bytes.ReplaceAll(out, []byte("\r"), []byte("\n")))
		})
	}
}

// equalValues compares what two messages say, ignoring the received text
// Parse keeps.
func equalValues(a, b *Message) bool {
	ea, err1 := a.Encode()
	eb, err2 := b.Encode()
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb) && a.Delims == b.Delims
}

// assertNoContent fails when an error's text quotes a word of the message:
// errors must never carry what a source sent.
func assertNoContent(t *testing.T, err error, msg []byte) {
	t.Helper()
	text := err.Error()
	for _, w := range strings.FieldsFunc(string(msg), func(r rune) bool {
		return strings.ContainsRune("|^~\\&\r\n #:*!$<>/", r)
	}) {
		// Short tokens (AE, 204, MSA …) are codes, which errors may name.
		if len(w) >= 6 && strings.Contains(text, w) {
			t.Errorf("error %q quotes %q from the message", text, w)
		}
	}
}

func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func compareGolden(t *testing.T, ar *txtar.Archive, file, name string, got []byte) {
	t.Helper()
	if *update {
		ar.Set(name, got)
		if err := os.WriteFile(file, ar.Format(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := ar.Get(name)
	if want == nil {
		t.Fatalf("no %s section; run with -update", name)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func readArchive(t *testing.T, file string) *txtar.Archive {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return txtar.Parse(data)
}
