package txtar

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := []byte("comment\n-- input.json --\n{\"a\":1}\n-- want.json --\n{}\n")
	a := Parse(in)
	if string(a.Comment) != "comment\n" || len(a.Files) != 2 || string(a.Get("input.json")) != "{\"a\":1}\n" {
		t.Fatalf("%+v", a)
	}
	if !bytes.Equal(a.Format(), in) {
		t.Fatalf("format: %q", a.Format())
	}
	a.Set("want.json", []byte("{\"b\":2}"))
	a.Set("new", nil)
	if got := string(Parse(a.Format()).Get("want.json")); got != "{\"b\":2}\n" {
		t.Fatalf("set: %q", got)
	}
	if Parse([]byte("-- --\n--x--\n")).Files != nil {
		t.Fatal("malformed markers taken as files")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("c\n-- a --\nx\n-- b --\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := Parse(data)
		b := Parse(a.Format())
		if len(a.Files) != len(b.Files) {
			t.Fatalf("%d files, %d after a round trip", len(a.Files), len(b.Files))
		}
	})
}
