package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testSeed is a fixed signing seed, so checkpoints in golden files are
// reproducible (Ed25519 signatures are deterministic).
var testSeed = []byte("test-signing-seed-not-secret-032")

func testSigner(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := ParseSigningKey(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLineHash(t *testing.T) {
	// sha256("abc"), a published test vector.
	const want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := LineHash([]byte("abc")); got != want {
		t.Errorf("LineHash = %s, want %s", got, want)
	}
}

func TestParseSigningKeyForms(t *testing.T) {
	want := ed25519.NewKeyFromSeed(testSeed)
	der, err := x509.MarshalPKCS8PrivateKey(want)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{
		"raw":         testSeed,
		"hex":         []byte(hex.EncodeToString(testSeed)),
		"hex newline": []byte(hex.EncodeToString(testSeed) + "\n"),
		"base64":      []byte(base64.StdEncoding.EncodeToString(testSeed)),
		"base64url":   []byte(base64.RawURLEncoding.EncodeToString(testSeed)),
		"pem":         pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
	for name, in := range forms {
		got, err := ParseSigningKey(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !got.Equal(want) {
			t.Errorf("%s: got another key", name)
		}
	}
	for name, in := range map[string][]byte{
		"empty": nil, "short": []byte("short"), "31 bytes": bytes.Repeat([]byte("a"), 31),
		"bad pem":    []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		"64 non-hex": bytes.Repeat([]byte("z"), 64),
	} {
		if _, err := ParseSigningKey(in); err == nil {
			t.Errorf("%s: accepted", name)
		} else if len(in) > 4 && strings.Contains(err.Error(), string(in)) {
			t.Errorf("%s: error quotes the secret: %v", name, err)
		}
	}
}

func TestPublicKeyRoundTrip(t *testing.T) {
	pub := testSigner(t).Public().(ed25519.PublicKey)
	got, err := ParsePublicKey(FormatPublicKey(pub))
	if err != nil || !got.Equal(pub) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "ed25519:", "rsa:AAAA", "ed25519:AAAA"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}

// checkpointEvent is a signed checkpoint with fixed content.
func checkpointEvent(t testing.TB) *Event {
	t.Helper()
	key := testSigner(t)
	e := &Event{
		Time: time.Date(2026, 3, 14, 14, 27, 0, 0, time.UTC), Tenant: "acme-health", Action: ActionCheckpoint,
		Region: "us-east-1", ConfigHash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ChainID: "6f1c0e2a9b3d4c5e8f7a6b5c4d3e2f10", Seq: 43,
		PrevHash: "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
	}
	signCheckpoint(e, key, KeyID(key.Public().(ed25519.PublicKey)), nil)
	return e
}

// TestGoldenCheckpoint pins the checkpoint's wire format and signature
// construction: Ed25519 is deterministic, so the line never changes.
func TestGoldenCheckpoint(t *testing.T) {
	line := append(checkpointEvent(t).AppendJSON(nil), '\n')
	path := filepath.Join("testdata", "checkpoint.golden.json")
	if *update {
		if err := os.WriteFile(path, line, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(line, want) {
		t.Errorf("checkpoint wire format changed (run with -update if intended)\n got: %s\nwant: %s", line, want)
	}
}

func TestCheckpointMessage(t *testing.T) {
	e := checkpointEvent(t)
	line := e.AppendJSON(nil)
	msg := CheckpointMessage(line)
	unsigned := *e
	unsigned.Sig = ""
	want := append([]byte(checkpointDomain), unsigned.AppendJSON(nil)...)
	if !bytes.Equal(msg, want) {
		t.Fatalf("CheckpointMessage:\n got %s\nwant %s", msg, want)
	}
	// A line without sig is taken whole.
	if got := CheckpointMessage(unsigned.AppendJSON(nil)); !bytes.Equal(got, want) {
		t.Fatalf("unsigned line:\n got %s\nwant %s", got, want)
	}
}

func TestVerifyCheckpoint(t *testing.T) {
	e := checkpointEvent(t)
	line := e.AppendJSON(nil)
	pub := testSigner(t).Public().(ed25519.PublicKey)
	otherPub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	if err := VerifyCheckpoint(line, e.Sig, []ed25519.PublicKey{otherPub, pub}); err != nil {
		t.Fatalf("genuine checkpoint: %v", err)
	}
	if err := VerifyCheckpoint(line, e.Sig, []ed25519.PublicKey{otherPub}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("other key only: %v, want ErrUnknownKey", err)
	}
	if err := VerifyCheckpoint(line, "", []ed25519.PublicKey{pub}); !errors.Is(err, ErrNoSignature) {
		t.Errorf("no sig: %v", err)
	}
	// Any change to the signed line breaks the signature.
	edited := *e
	edited.Seq++
	if err := VerifyCheckpoint(edited.AppendJSON(nil), e.Sig, []ed25519.PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("edited seq: %v, want ErrBadSignature", err)
	}
	// Another spelling of the same signature bytes is refused: only the
	// canonical encoding verifies.
	prefix, b64, _ := strings.Cut(strings.TrimPrefix(e.Sig, SigPrefix), ":")
	raw, _ := base64.RawURLEncoding.DecodeString(b64)
	for name, sig := range map[string]string{
		"padded":   SigPrefix + prefix + ":" + base64.URLEncoding.EncodeToString(raw),
		"std":      SigPrefix + prefix + ":" + base64.RawStdEncoding.EncodeToString(raw) + "+/",
		"hex":      SigPrefix + prefix + ":" + hex.EncodeToString(raw),
		"upper id": SigPrefix + strings.ToUpper(prefix) + ":" + b64,
		"no kid":   SigPrefix + b64,
		"other":    "rsa:" + prefix + ":" + b64,
	} {
		if err := VerifyCheckpoint(line, sig, []ed25519.PublicKey{pub}); err == nil {
			t.Errorf("%s spelling verified", name)
		}
	}
}
