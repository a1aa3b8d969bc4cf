package pseudonym

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/tink-crypto/tink-go/v2/daead/subtle"
)

// Key is an operator key pseudonyms are derived from (the cursor keys).
type Key struct {
	ID     string
	Secret []byte
}

// Keys are the operator's keys; the first seals, all open.
type Keys struct {
	keys []Key
}

// NewKeys keeps the keys. At least one is needed.
func NewKeys(keys []Key) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("pseudonym: no key")
	}
	for _, k := range keys {
		if len(k.Secret) < 32 || k.ID == "" || strings.ContainsAny(k.ID, ".") {
			return nil, errors.New("pseudonym: a key needs an id without dots and at least 32 bytes")
		}
	}
	return &Keys{keys: keys}, nil
}

// Sealer seals and opens one client's pseudonyms.
type Sealer struct {
	first string
	sivs  map[string]*subtle.AESSIV
}

// info labels the derivation, so these keys differ from any other use of
// the same secrets (cursors seal with them directly).
const info = "ferry/pseudonym/v1/client="

// ForClient derives a client's sealer: one AES-SIV key per operator key.
func (k *Keys) ForClient(client string) (*Sealer, error) {
	s := &Sealer{first: k.keys[0].ID, sivs: map[string]*subtle.AESSIV{}}
	for _, key := range k.keys {
		// AES-SIV with AES-256 takes a 64-byte key (two halves: S2V and
		// CTR).
		dk, err := hkdf.Key(sha256.New, key.Secret, nil, info+client, 64)
		if err != nil {
			return nil, err
		}
		siv, err := subtle.NewAESSIV(dk)
		if err != nil {
			return nil, err
		}
		s.sivs[key.ID] = siv
	}
	return s, nil
}

// maxValue bounds what is sealed and what is opened.
const maxValue = 1024

var enc = base64.RawURLEncoding

// Seal returns the pseudonym of value, named kind on connection.
func (s *Sealer) Seal(connection, kind, value string) string {
	if len(value) > maxValue {
		return ""
	}
	ct, err := s.sivs[s.first].EncryptDeterministically([]byte(value), ad(connection, kind))
	if err != nil {
		return ""
	}
	return s.first + "." + enc.EncodeToString(ct)
}

// Open returns the value a pseudonym of kind on connection seals; false
// for anything else, another client's pseudonyms among them.
func (s *Sealer) Open(connection, kind, token string) (string, bool) {
	kid, body, ok := strings.Cut(token, ".")
	siv := s.sivs[kid]
	if !ok || siv == nil || len(body) > 2*maxValue {
		return "", false
	}
	ct, err := enc.DecodeString(body)
	if err != nil {
		return "", false
	}
	pt, err := siv.DecryptDeterministically(ct, ad(connection, kind))
	if err != nil {
		return "", false
	}
	return string(pt), true
}

// ad binds a pseudonym to its connection and kind, length-prefixed so no
// two pairs encode alike.
func ad(connection, kind string) []byte {
	b := make([]byte, 0, 8+len(connection)+len(kind))
	for _, p := range []string{connection, kind} {
		n := len(p)
		b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		b = append(b, p...)
	}
	return b
}
