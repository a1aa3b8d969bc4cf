package hl7v2

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// corpusDir finds testdata/hl7v2 at the repository root, from the package
// directory the test runs in.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "testdata", "hl7v2")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testdata/hl7v2 not found above the working directory")
		}
		dir = parent
	}
}

func corpusFiles(t testing.TB) map[string][]byte {
	t.Helper()
	root := corpusDir(t)
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".hl7") {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("only %d messages under %s", len(files), root)
	}
	return files
}

// corpusMalformed are the corpus files that are not HL7 messages, and must
// fail to parse with a *ParseError: each was written to test a receiver's
// error handling, or carries notes for people.
var corpusMalformed = map[string]string{
	"Test/Message/empty.hl7":                                 "an empty file",
	"Test/Message/msh_present_but_missing_msh-2.hl7":         "MSH-2 is empty: no encoding characters",
	"Test/Message/msh_present_but_missing_all_fields.hl7":    "MSH has no fields at all",
	"TN/001_TN_ORU_R01_LRI_annotated_for_transformation.hl7": "free-text notes between segments",
	"TX/001_TX_OML_O21.hl7":                                  "an OBR segment wrapped onto a second line",
}

// corpusInsane are the corpus files that parse but whose MSH lacks a field
// a message must have, and which field.
var corpusInsane = map[string]string{
	"Test/Message/msh_present_but_missing_msh-9.hl7":  "MSH-9",
	"Test/Message/msh_present_but_missing_msh-10.hl7": "MSH-10",
}

var (
	messageCode = regexp.MustCompile(`^[A-Z][A-Z0-9]{2}$`)
	versionID   = regexp.MustCompile(`^2\.[1-9](\.[0-9])?$`)
)

// saneMSH returns the first MSH field a real message must have and msh
// lacks, or "".
func saneMSH(m *Message) string {
	msh := m.Header()
	switch {
	case msh == nil:
		return "MSH"
	case !messageCode.MatchString(msh.Get(9, 1, 1, 1)):
		return "MSH-9"
	case msh.Get(9, 1, 2, 1) == "" && msh.Get(9, 1, 1, 1) != "ACK":
		// The trigger event may be left out of a general acknowledgement.
		return "MSH-9"
	case msh.Value(10) == "":
		return "MSH-10"
	case !versionID.MatchString(msh.Get(12, 1, 1, 1)):
		return "MSH-12"
	}
	return ""
}

// TestCorpus parses every message of testdata/hl7v2 (real-world messages
// from CDC's trusted-intermediary), both as stored (segments ending in LF)
// and converted to HL7's CR, and checks each: it parses to the same values
// either way, has a sane MSH with the standard delimiters, and encodes to
// bytes that parse to the same values and encode to the same bytes again.
// The few files that are not messages must fail with a ParseError; every
// file is accounted for, so a new one needs a decision here.
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	for _, name := range sortedKeys(corpusMalformed) {
		if _, ok := files[name]; !ok {
			t.Errorf("%s is listed as malformed but is not in the corpus", name)
		}
	}
	for _, name := range sortedKeys(files) {
		data := files[name]
		t.Run(name, func(t *testing.T) {
			converted := bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\r")), []byte("\n"), []byte("\r"))
			m, err := Parse(converted)
			asStored, errStored := Parse(data)
			if why, bad := corpusMalformed[name]; bad {
				var pe *ParseError
				if !errors.As(err, &pe) || !errors.As(errStored, &pe) {
					t.Fatalf("%s, yet Parse = %v / %v", why, err, errStored)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if errStored != nil {
				t.Fatalf("Parse (LF line ends): %v", errStored)
			}
			if !reflect.DeepEqual(values(m), values(asStored)) {
				t.Error("LF and CR line ends parse to different values")
			}
			if m.Delims != DefaultDelimiters {
				t.Errorf("delimiters %+v", m.Delims)
			}
			if missing := saneMSH(m); missing != corpusInsane[name] {
				t.Errorf("MSH check: missing %q, want %q", missing, corpusInsane[name])
			}
			out, err := m.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			again := mustParse(t, out)
			if !reflect.DeepEqual(values(m), values(again)) {
				t.Error("encoding changed the values")
			}
			out2, err := again.Encode()
			if err != nil || !bytes.Equal(out, out2) {
				t.Errorf("encoding is not stable (err %v)", err)
			}
		})
	}
}

// values is what a message says, for comparing two: each segment's name and
// fields, without the received text Parse keeps, and with trailing empty
// fields, repetitions, components and subcomponents left out, since they
// read the same as absent ones (Get returns "" for both): "\X\" is an
// empty value, and encodes as nothing.
func values(m *Message) [][][][][]string {
	var out [][][][][]string
	for _, s := range m.Segments {
		seg := [][][][]string{{{{s.Name}}}}
		for _, f := range s.Fields {
			var fv [][][]string
			for _, r := range f {
				var rv [][]string
				for _, c := range r {
					rv = append(rv, trimEmpty([]string(c)))
				}
				fv = append(fv, trimEmpty(rv))
			}
			seg = append(seg, trimEmpty(fv))
		}
		out = append(out, trimEmpty(seg))
	}
	return out
}

func trimEmpty[T any](s []T) []T {
	for len(s) > 0 && reflect.ValueOf(s[len(s)-1]).IsZero() {
		s = s[:len(s)-1]
	}
	if len(s) == 0 {
		return nil
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
