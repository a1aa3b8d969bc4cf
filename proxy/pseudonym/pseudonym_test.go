package pseudonym

import (
	"bytes"
	"strings"
	"testing"
)

func sealers(t testing.TB) (*Sealer, *Sealer, *Keys) {
	k, err := NewKeys([]Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := k.ForClient("a")
	b, _ := k.ForClient("b")
	return a, b, k
}

func TestSealOpen(t *testing.T) {
	a, b, _ := sealers(t)
	p := a.Seal("conn", "patients", "p-123")
	if p != a.Seal("conn", "patients", "p-123") {
		t.Fatal("not deterministic")
	}
	if strings.Contains(p, "p-123") || !strings.HasPrefix(p, "k1.") {
		t.Fatalf("pseudonym %q", p)
	}
	if v, ok := a.Open("conn", "patients", p); !ok || v != "p-123" {
		t.Fatalf("open: %q %v", v, ok)
	}
	for name, open := range map[string]func() (string, bool){
		"another client":     func() (string, bool) { return b.Open("conn", "patients", p) },
		"another connection": func() (string, bool) { return a.Open("other", "patients", p) },
		"another kind":       func() (string, bool) { return a.Open("conn", "observations", p) },
		"tampered":           func() (string, bool) { return a.Open("conn", "patients", p[:len(p)-2]+"AA") },
		"unknown key":        func() (string, bool) { return a.Open("conn", "patients", "k9"+p[2:]) },
	} {
		if _, ok := open(); ok {
			t.Errorf("%s opened", name)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	old, _ := NewKeys([]Key{{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}})
	rotated, _ := NewKeys([]Key{{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}, {ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}})
	o, _ := old.ForClient("a")
	r, _ := rotated.ForClient("a")
	p := o.Seal("c", "patients", "x")
	if v, ok := r.Open("c", "patients", p); !ok || v != "x" {
		t.Fatal("a pseudonym of the older key did not open after rotation")
	}
	if !strings.HasPrefix(r.Seal("c", "patients", "x"), "k2.") {
		t.Fatal("the first key does not seal")
	}
}

func TestRecord(t *testing.T) {
	a, _, _ := sealers(t)
	rec := []byte(`{"id":"o1","patient":{"resource":"patients","id":"p1","display":"x"},"identifiers":[{"system":"s","value":"MRN1"}],"source":{"source_id":"o1"},"subscriber_id":"M9"}`)
	out, err := a.Record("c", "observations", rec, TokenizeIdentifiers)
	if err != nil {
		t.Fatal(err)
	}
	for _, real := range []string{`"o1"`, `"p1"`, "MRN1", "M9"} {
		if bytes.Contains(out, []byte(real)) {
			t.Fatalf("%s left in %s", real, out)
		}
	}
	if !bytes.Contains(out, []byte(a.Seal("c", "patients", "p1"))) {
		t.Fatalf("the patient reference is not the patient's pseudonym: %s", out)
	}
	out, _ = a.Record("c", "observations", rec, DropIdentifiers)
	if bytes.Contains(out, []byte("identifiers")) || bytes.Contains(out, []byte("subscriber_id")) {
		t.Fatalf("drop kept identifiers: %s", out)
	}
}

func FuzzOpen(f *testing.F) {
	a, _, _ := sealers(f)
	f.Add(a.Seal("c", "patients", "p1"))
	f.Add("k1.")
	f.Add("k1.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		if v, ok := a.Open("c", "patients", tok); ok && a.Seal("c", "patients", v) != tok {
			t.Fatalf("%q opened to %q, which seals otherwise", tok, v)
		}
	})
}
