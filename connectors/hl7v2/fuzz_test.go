package hl7v2

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/txtar"
	"github.com/ferryhealth/ferry/unified"
)

// parserSeeds are hand-written inputs at the parser's edges, added to every
// parser fuzzer beside the corpus and golden messages.
var parserSeeds = []string{
	"", "MSH", "MSH|", "MSH|^~\\&", "MSH|^~\\&#", "MSH|^~\\&|", "MSH#:*!$#A",
	"MSH|^~\\&|A\rPID|1|\\F\\\\S\\\\T\\\\R\\\\E\\\\X41\\\\.br\\\\H\\x\\N\\",
	"MSH|^~\\&|A\rPID|\\X\\|\\XZ\\|\\X4\\|\\C2842\\|\\M244257\\|\\Zabc\\|\\.sp3\\|\\.in-4\\|\\\\|\\",
	"MSH|^~\\&|A\r\n\r\nPID|1\n\nOBX|1",
	"MSH|^~\\&|A\rMSH|^~\\&|B\rBHS|^~\\&\rFHS|^~\\&|C",
	"MSH|^~\\&|A\rPID|~~~|^^^|&&&|\"\"",
	"MSH|^~\\&|A\rPID|1||\xff\xfe\\XFF\\\\XC3\\",
	"\xef\xbb\xbfMSH|^~\\&|A",
	"FHS|^~\\&|A\rBHS|^~\\&|A\rMSH|^~\\&|A\rBTS|1\rFTS|1",
	"MSH|^~\\&|A\rPID|1|a\x00b\x7fc",
	"MSH|^~\\&|A\rPID|1|\\X a\\|\\X 0D0A\\",
}

func addParserSeeds(f *testing.F) {
	for _, s := range parserSeeds {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "response", "*.txtar"))
	for _, file := range files {
		if in := txtar.Parse(readFileF(f, file)).Get("input.hl7"); in != nil {
			f.Add(cr(string(in)))
		}
	}
	// A sample of the real-world corpus: all of it would make every fuzz
	// run start slowly.
	n := 0
	for _, name := range sortedKeys(corpusFiles(f)) {
		if n%8 == 0 {
			f.Add(corpusFiles(f)[name])
		}
		n++
	}
}

// FuzzParse checks that the parser never panics, fails only with a
// *ParseError, and that what it parses encodes to a message that parses to
// the same values and encodes to the same bytes: encode(parse(x)) is a
// fixed point.
//
// Run with: go test ./connectors/hl7v2 -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s
// (from the connectors module: cd connectors && go test ./hl7v2 ...).
func FuzzParse(f *testing.F) {
	addParserSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error %v is not a *ParseError", err)
			}
			return
		}
		if len(m.Segments) == 0 || !IsHeader(m.Segments[0].Name) {
			t.Fatal("a parsed message must begin with a header segment")
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode of a parsed message: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("the encoded message does not parse: %v\n%q", err, out)
		}
		if !reflect.DeepEqual(values(m), values(back)) {
			t.Fatalf("values changed through encoding\nin:  %q\nout: %q", data, out)
		}
		out2, err := back.Encode()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding is not stable: %q then %q (%v)", out, out2, err)
		}
	})
}

// FuzzEscape checks that escaping is undone by unescaping, and that
// unescaping then escaping reaches a fixed point, for any delimiters.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a|b^c&d~e\\f", `\X41\\.br\`, "\n\r\x00", "Ωμ\xff", `\F\`, `\`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, v string, custom bool) {
		d := DefaultDelimiters
		if custom {
			d = Delimiters{Field: '#', Component: ':', Repetition: '*', Escape: '!', Subcomponent: '$', Truncation: '%'}
		}
		e := Escape(v, d)
		if got, want := Unescape(e, d), strings.ToValidUTF8(v, "\uFFFD"); got != want {
			t.Fatalf("Unescape(Escape(%q)) = %q", v, got)
		}
		if strings.ContainsAny(e, string([]byte{d.Field, d.Component, d.Repetition, d.Subcomponent, '\r', '\n'})) {
			t.Fatalf("Escape(%q) = %q holds a delimiter", v, e)
		}
		u := Escape(Unescape(v, d), d)
		if Escape(Unescape(u, d), d) != u {
			t.Fatalf("escape(unescape()) of %q is not stable", v)
		}
	})
}

// FuzzParsePDQResponse feeds arbitrary answers to the response checks and
// the patient mapping: never a panic, errors only *connectors.Error with an
// upstream, not-found or invalid-argument code, and every patient encodes as
// JSON that decodes as a unified.Patient.
func FuzzParsePDQResponse(f *testing.F) {
	addParserSeeds(f)
	pm := &PatientMapping{IDAuthority: HD{Namespace: "GOODHEALTH"}, Systems: map[string]string{"LOCALLAB": "http://lab.example.org/ids"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := ParsePDQResponse(data, goldenControlID, goldenQueryTag)
		if err != nil {
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *connectors.Error", err)
			}
			switch ce.Code {
			case connectors.CodeUpstream, connectors.CodeNotFound, connectors.CodeInvalidArgument:
			default:
				t.Fatalf("unexpected code %v", ce.Code)
			}
			return
		}
		for _, pid := range resp.Patients {
			rec, err := json.Marshal(pm.Patient(pid, goldenSource, true))
			if err != nil {
				t.Fatalf("encoding a patient: %v", err)
			}
			var p unified.Patient
			if err := json.Unmarshal(rec, &p); err != nil {
				t.Fatalf("the patient does not decode: %v", err)
			}
			if p.ID != "" && !unified.ValidID(p.ID) {
				t.Fatalf("invalid id %q", p.ID)
			}
			if p.BirthDate != "" && !unified.ValidDate(p.BirthDate) {
				t.Fatalf("invalid birth date %q", p.BirthDate)
			}
			if p.Deceased != nil && p.Deceased.At != "" && !unified.ValidDate(p.Deceased.At) {
				t.Fatalf("invalid death date %q", p.Deceased.At)
			}
			if p.UpdatedAt != "" && !unified.ValidDate(p.UpdatedAt) {
				t.Fatalf("invalid updated_at %q", p.UpdatedAt)
			}
		}
	})
}

// FuzzPageToken checks that a token is accepted only in the spelling the
// connector itself would give it.
func FuzzPageToken(f *testing.F) {
	for _, s := range []string{"", "c:TAG1:Q1AtMQ", "c::", "c:T:", "o:1", "o:0", "o:01", "o:1000000", "o:1000001", "x:1", "c:TAG1:Q1AtMQ=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parsePageToken(s)
		if err != nil {
			if connectors.CodeOf(err) != connectors.CodeInvalidArgument {
				t.Fatalf("error %v", err)
			}
			return
		}
		if tok.String() != s {
			t.Fatalf("token %q re-encodes as %q", s, tok.String())
		}
	})
}

func readFileF(f *testing.F, name string) []byte {
	f.Helper()
	ar, err := os.ReadFile(name)
	if err != nil {
		f.Fatal(err)
	}
	return ar
}
