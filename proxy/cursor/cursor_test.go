package cursor

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef")
	secretB = []byte("fedcba9876543210fedcba9876543210")
	bind    = Binding{Client: "app", Connection: "conn", Resource: "observations"}
	state   = State{
		PageToken: "l:Observation?_count=7&_offset=14&patient=p1",
		Params:    map[string]string{"patient_id": "p1", "code": "http://loinc.org|8867-4"},
		Limit:     7, Raw: true, Fields: []string{"id", "value"},
	}
)

func newSealer(t testing.TB, keys ...Key) *Sealer {
	t.Helper()
	if len(keys) == 0 {
		keys = []Key{{ID: "k1", Secret: secretA}}
	}
	s, err := New(keys, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	s := newSealer(t)
	tok, err := s.Seal(bind, state)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(bind, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, state) {
		t.Fatalf("opened %+v, sealed %+v", got, state)
	}
	// Two seals of the same state differ (random nonce), so cursors cannot
	// be compared to learn that two searches were the same.
	tok2, _ := s.Seal(bind, state)
	if tok == tok2 {
		t.Error("two cursors of the same state are equal")
	}
}

// TestNothingInClear: neither the filters nor the source link can be read
// from the cursor.
func TestNothingInClear(t *testing.T) {
	s := newSealer(t)
	tok, _ := s.Seal(bind, state)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	// Only strings of six or more bytes: a shorter one turns up in random
	// ciphertext often enough to make the test flaky.
	for _, secret := range []string{"8867-4", "Observation", "_offset", "patient"} {
		if strings.Contains(string(raw), secret) || strings.Contains(tok, secret) {
			t.Errorf("cursor reveals %q", secret)
		}
	}
}

func TestBinding(t *testing.T) {
	s := newSealer(t)
	confined := Binding{Client: "app", Connection: "conn", Resource: "observations", Compartment: "p1"}
	ctok, _ := s.Seal(confined, state)
	if _, err := s.Open(confined, ctok); err != nil {
		t.Fatalf("a compartment's cursor: %v", err)
	}
	for _, b := range []Binding{bind, {Client: "app", Connection: "conn", Resource: "observations", Compartment: "p2"}} {
		if _, err := s.Open(b, ctok); !errors.Is(err, ErrInvalid) {
			t.Errorf("a compartment's cursor opened under %+v", b)
		}
	}
	tok, _ := s.Seal(bind, state)
	for _, b := range []Binding{
		{Client: "other", Connection: "conn", Resource: "observations"},
		{Client: "app", Connection: "other", Resource: "observations"},
		{Client: "app", Connection: "conn", Resource: "patients"},
		{Client: "appc", Connection: "onn", Resource: "observations"},
		{Client: "app", Connection: "conn", Resource: "observations", Compartment: "p1"},
	} {
		if _, err := s.Open(b, tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("opened under %+v: %v", b, err)
		}
	}
}

// TestTamper flips every bit of the cursor in turn: each change is refused.
func TestTamper(t *testing.T) {
	s := newSealer(t)
	tok, _ := s.Seal(bind, state)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		for bit := 0; bit < 8; bit++ {
			m := append([]byte(nil), raw...)
			m[i] ^= 1 << bit
			if _, err := s.Open(bind, base64.RawURLEncoding.EncodeToString(m)); err == nil {
				t.Fatalf("byte %d bit %d flipped: accepted", i, bit)
			}
		}
	}
	for _, bad := range []string{"", "!", "AQ", tok[:len(tok)-1], tok + "A", strings.Repeat("A", MaxLen+1)} {
		if _, err := s.Open(bind, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%.20q…) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestExpiry(t *testing.T) {
	s := newSealer(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	tok, _ := s.Seal(bind, state)
	now = now.Add(time.Hour - time.Second)
	if _, err := s.Open(bind, tok); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := s.Open(bind, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
}

// TestRotation: a cursor sealed by the old key opens after the new key is
// put first; one sealed by a key no longer configured does not.
func TestRotation(t *testing.T) {
	old := newSealer(t, Key{ID: "k1", Secret: secretA})
	tok, _ := old.Seal(bind, state)
	rotated := newSealer(t, Key{ID: "k2", Secret: secretB}, Key{ID: "k1", Secret: secretA})
	if _, err := rotated.Open(bind, tok); err != nil {
		t.Fatalf("old cursor after rotation: %v", err)
	}
	tok2, _ := rotated.Seal(bind, state)
	if _, err := old.Open(bind, tok2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("new cursor opened without the new key: %v", err)
	}
	dropped := newSealer(t, Key{ID: "k2", Secret: secretB})
	if _, err := dropped.Open(bind, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cursor of a dropped key: %v", err)
	}
	// Same id, other secret: refused, not misread.
	impostor := newSealer(t, Key{ID: "k1", Secret: secretB})
	if _, err := impostor.Open(bind, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cursor opened by another secret under the same id: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, keys := range [][]Key{
		nil,
		{{ID: "k", Secret: []byte("short")}},
		{{ID: "", Secret: secretA}},
		{{ID: "k", Secret: secretA}, {ID: "k", Secret: secretB}},
	} {
		if _, err := New(keys, time.Hour); err == nil {
			t.Errorf("New(%d keys) accepted", len(keys))
		}
	}
	if _, err := New([]Key{{ID: "k", Secret: secretA}}, 0); err == nil {
		t.Error("zero ttl accepted")
	}
}

func TestTooLong(t *testing.T) {
	s := newSealer(t)
	if _, err := s.Seal(bind, State{PageToken: strings.Repeat("x", MaxLen)}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("oversized state: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	s := newSealer(f)
	tok, _ := s.Seal(bind, state)
	f.Add(tok)
	f.Add("")
	f.Add("AQJrMQ")
	f.Fuzz(func(t *testing.T, in string) {
		st, err := s.Open(bind, in)
		if err == nil && in != tok {
			// Only a genuine seal can open; the fuzzer cannot forge GCM.
			t.Fatalf("forged cursor opened: %+v", st)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	s := newSealer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(bind, state); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newSealer(b)
	tok, _ := s.Seal(bind, state)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(bind, tok); err != nil {
			b.Fatal(err)
		}
	}
}
