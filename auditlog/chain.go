package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// HashPrefix starts every prev_hash, naming the algorithm.
const HashPrefix = "sha256:"

// SigPrefix starts every checkpoint signature, naming the algorithm.
const SigPrefix = "ed25519:"

// checkpointDomain separates checkpoint signatures from any other use of a
// tenant's signing key: a signature made here can never be presented as
// one over something else, and the reverse.
const checkpointDomain = "ferry/audit/checkpoint/v1\n"

// LineHash returns the prev_hash value that the event after line must
// carry: "sha256:" and the lowercase hex SHA-256 of line, which is an
// event's canonical encoding (Event.AppendJSON) without the newline.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hashString(sum)
}

func hashString(sum [sha256.Size]byte) string {
	var b [len(HashPrefix) + 2*sha256.Size]byte
	copy(b[:], HashPrefix)
	hex.Encode(b[len(HashPrefix):], sum[:])
	return string(b[:])
}

// newChainID draws a chain id: 16 random bytes as 32 lowercase hex digits.
func newChainID() string {
	var b [16]byte
	// crypto/rand.Read never returns an error (Go 1.24+): it crashes the
	// program rather than return predictable bytes.
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// CheckpointMessage returns the bytes a checkpoint's signature covers, given
// the checkpoint's canonical line: the domain string
// "ferry/audit/checkpoint/v1\n" followed by the line without its sig member.
// Since sig is the last key, that is the line up to `,"sig":` and a closing
// brace; an event without sig is taken whole. The signed line holds the
// checkpoint's tenant, region, time, chain id, seq and prev_hash (the hash
// of the last event before it), so the signature pins the whole chain up to
// that point and the checkpoint itself.
func CheckpointMessage(line []byte) []byte {
	// A canonical line escapes every quote inside a string value, so the
	// bytes `,"sig":` can only be the sig member itself.
	body := bytes.TrimSuffix(line, []byte("}"))
	if i := bytes.LastIndex(line, []byte(`,"`+FieldSig+`":`)); i >= 0 {
		body = line[:i]
	}
	msg := make([]byte, 0, len(checkpointDomain)+len(body)+1)
	msg = append(msg, checkpointDomain...)
	msg = append(msg, body...)
	return append(msg, '}')
}

// KeyID names a public key in checkpoint signatures: the first 8 bytes of
// its SHA-256, as 16 lowercase hex digits. It lets a verifier with several
// keys (a rotation) pick the right one and tell "signed by another key"
// from "forged".
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// signCheckpoint sets e.Sig to the signature of e under key. e must
// already carry everything else (chain id, seq, prev_hash, time).
func signCheckpoint(e *Event, key ed25519.PrivateKey, kid string, scratch []byte) []byte {
	e.Sig = ""
	scratch = e.AppendJSON(scratch[:0])
	sig := ed25519.Sign(key, CheckpointMessage(scratch))
	e.Sig = SigPrefix + kid + ":" + base64.RawURLEncoding.EncodeToString(sig)
	return scratch
}

// Errors from checking a checkpoint signature.
var (
	ErrNoSignature  = errors.New("checkpoint has no signature")
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	ErrUnknownKey   = errors.New("checkpoint signed by a key not given to the verifier")
)

// VerifyCheckpoint checks the signature of the checkpoint whose canonical
// line is line and whose sig value is sig, against keys. The signature must
// be in its one canonical form (SigPrefix, the key id of one of keys, ":",
// unpadded base64url of 64 bytes), so no two spellings of a signature both
// verify.
func VerifyCheckpoint(line []byte, sig string, keys []ed25519.PublicKey) error {
	if sig == "" {
		return ErrNoSignature
	}
	rest, ok := strings.CutPrefix(sig, SigPrefix)
	if !ok {
		return fmt.Errorf("%w: not %s", ErrBadSignature, strings.TrimSuffix(SigPrefix, ":"))
	}
	kid, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return fmt.Errorf("%w: malformed", ErrBadSignature)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) != ed25519.SignatureSize || base64.RawURLEncoding.EncodeToString(raw) != b64 {
		return fmt.Errorf("%w: malformed", ErrBadSignature)
	}
	for _, k := range keys {
		if KeyID(k) != kid {
			continue
		}
		if ed25519.Verify(k, CheckpointMessage(line), raw) {
			return nil
		}
		return ErrBadSignature
	}
	return fmt.Errorf("%w (key id %s)", ErrUnknownKey, kid)
}

// ParseSigningKey turns a tenant's checkpoint signing secret into an Ed25519
// private key. Accepted forms, tried in this order:
//
//   - a PEM block "PRIVATE KEY" holding a PKCS #8 Ed25519 key (what
//     `openssl genpkey -algorithm ed25519` writes);
//   - exactly 32 bytes: the seed itself;
//   - 64 hex digits: the seed in hex;
//   - 43 or 44 characters of base64 (standard or URL alphabet, padded or
//     not) decoding to 32 bytes: the seed in base64.
//
// Anything else is an error that does not quote the secret.
func ParseSigningKey(secret []byte) (ed25519.PrivateKey, error) {
	trimmed := bytes.TrimSpace(secret)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, _ := pem.Decode(trimmed)
		if block == nil || block.Type != "PRIVATE KEY" {
			return nil, errors.New("auditlog: signing key: expected a PEM \"PRIVATE KEY\" block")
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("auditlog: signing key: PEM block is not PKCS #8")
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("auditlog: signing key: PEM key is not Ed25519")
		}
		return ek, nil
	}
	if len(secret) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(secret), nil
	}
	if len(trimmed) == 2*ed25519.SeedSize {
		if seed, err := hex.DecodeString(string(trimmed)); err == nil {
			return ed25519.NewKeyFromSeed(seed), nil
		}
	}
	if len(trimmed) == 43 || len(trimmed) == 44 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if seed, err := enc.DecodeString(string(trimmed)); err == nil && len(seed) == ed25519.SeedSize {
				return ed25519.NewKeyFromSeed(seed), nil
			}
		}
	}
	return nil, errors.New("auditlog: signing key: want a PKCS #8 PEM Ed25519 key or a 32-byte seed (raw, 64 hex digits or base64)")
}

// FormatPublicKey writes a public key as "ed25519:" and its unpadded
// base64url encoding, the form `ferry audit pubkey` prints and ParsePublicKey
// reads.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return SigPrefix + base64.RawURLEncoding.EncodeToString(pub)
}

// ParsePublicKey reads FormatPublicKey's output.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), SigPrefix)
	if !ok {
		return nil, errors.New("auditlog: public key: want ed25519:BASE64URL")
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("auditlog: public key: want 32 bytes of unpadded base64url after ed25519:")
	}
	return ed25519.PublicKey(raw), nil
}
