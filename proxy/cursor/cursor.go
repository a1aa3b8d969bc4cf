// Package cursor seals and opens the paging cursors of the unified API.
//
// A cursor is everything the next page needs (the connector's page token —
// a source next link or offset — the search's filters, page size, field
// mask and raw flag), encrypted and authenticated with AES-256-GCM under a
// key shared by the replicas of a region. Any replica can therefore serve the
// next page with no server state, and the URL a client holds reveals neither
// the search's filters nor the source's links.
//
// A cursor is bound to the client, connection and resource it was minted
// for (as GCM additional data, so they are authenticated but not carried)
// and carries its own expiry. Opening a cursor with another binding, after
// its expiry, or after any change of a byte fails with ErrInvalid or
// ErrExpired; neither says more, so a cursor cannot be used as an oracle.
//
// Wire form, base64url without padding:
//
//	version(1) | key id length(1) | key id | nonce(12) | ciphertext+tag
//
// The key id lets keys rotate: the first configured key seals, every
// configured key opens.
package cursor

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/goccy/go-json"
)

// version is the first byte of every cursor; a new layout gets a new one.
const version = 1

// MinSecretLen is the shortest key secret accepted.
const MinSecretLen = 32

// MaxLen bounds a cursor's text, checked before any decoding. Source next
// links are the bulk of a cursor; 8 KiB leaves room for long ones while
// staying well inside URL limits of common proxies.
const MaxLen = 8 << 10

var (
	// ErrInvalid is a cursor that is malformed, tampered with, sealed by
	// an unknown key or for another client, connection or resource.
	ErrInvalid = errors.New("cursor: invalid")
	// ErrExpired is an authentic cursor past its expiry.
	ErrExpired = errors.New("cursor: expired")
	// ErrTooLong is a state too large to fit in a cursor.
	ErrTooLong = errors.New("cursor: state too large")
)

// Key is one sealing key: a short id carried in each cursor and a secret of
// at least MinSecretLen random bytes.
type Key struct {
	ID     string
	Secret []byte
}

// Binding is what a cursor is valid for.
type Binding struct {
	Client     string
	Connection string
	Resource   string
	// Compartment is the patient a patient-scoped client is confined to;
	// "" for other clients. A cursor sealed in one compartment opens in
	// no other.
	Compartment string
}

// State is what a cursor carries to the next page.
type State struct {
	PageToken string            `json:"t"`
	Params    map[string]string `json:"p,omitempty"`
	Limit     int               `json:"l"`
	Raw       bool              `json:"r,omitempty"`
	Fields    []string          `json:"f,omitempty"`
	// Changes is a change feed's position; nil for a search's cursor.
	Changes *Changes `json:"c,omitempty"`
}

// Changes is where a change feed stands: the watermark (the source's
// last-changed time of the newest record returned) and, because records
// may share that instant, which of those at it were already returned.
type Changes struct {
	Watermark string `json:"w"`
	// Seen holds a SeenHashLen-byte hash of the id of every record returned
	// whose last change is exactly the watermark.
	Seen []byte `json:"s,omitempty"`
}

// SeenHashLen is the length of one id's hash in Changes.Seen: 48 bits keep
// the chance that two ids of one instant collide below 1e-9 for the
// hundreds a cursor can hold, which 8-byte hashes would not fit.
const SeenHashLen = 6

// envelope is the sealed plaintext: the state and its expiry.
type envelope struct {
	Expires int64 `json:"e"`
	State
}

type aeadKey struct {
	id   string
	aead cipher.AEAD
}

// Sealer seals and opens cursors. It is safe for concurrent use.
type Sealer struct {
	seal *aeadKey
	open map[string]*aeadKey
	ttl  time.Duration
	now  func() time.Time
}

// New returns a Sealer that seals with keys[0] and opens with any of keys.
// Cursors expire ttl after they are sealed.
func New(keys []Key, ttl time.Duration) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("cursor: no key")
	}
	if ttl <= 0 {
		return nil, errors.New("cursor: ttl must be positive")
	}
	s := &Sealer{open: map[string]*aeadKey{}, ttl: ttl, now: time.Now}
	for i, k := range keys {
		if len(k.ID) == 0 || len(k.ID) > 255 {
			return nil, fmt.Errorf("cursor: key %d: id must be 1 to 255 bytes", i)
		}
		if len(k.Secret) < MinSecretLen {
			return nil, fmt.Errorf("cursor: key %q: secret must be at least %d bytes", k.ID, MinSecretLen)
		}
		if _, dup := s.open[k.ID]; dup {
			return nil, fmt.Errorf("cursor: key %q listed twice", k.ID)
		}
		// The configured secret may be a passphrase-like string; HKDF turns
		// it into a uniform AES-256 key bound to this use and key id.
		dk, err := hkdf.Key(sha256.New, k.Secret, nil, "ferry cursor v1 "+k.ID, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(dk)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		ak := &aeadKey{id: k.ID, aead: aead}
		s.open[k.ID] = ak
		if i == 0 {
			s.seal = ak
		}
	}
	return s, nil
}

// Seal returns the cursor for st under binding b, valid for the sealer's
// TTL.
func (s *Sealer) Seal(b Binding, st State) (string, error) {
	return s.SealFor(b, st, s.ttl)
}

// SealFor returns the cursor for st under binding b, valid for ttl: a
// change feed's cursor is held between polls for far longer than a page's.
func (s *Sealer) SealFor(b Binding, st State, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", errors.New("cursor: ttl must be positive")
	}
	plain, err := json.Marshal(&envelope{Expires: s.now().Add(ttl).Unix(), State: st})
	if err != nil {
		return "", err
	}
	k := s.seal
	header := make([]byte, 0, 2+len(k.id)+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	header = append(header, version, byte(len(k.id)))
	header = append(header, k.id...)
	nonceAt := len(header)
	header = header[:nonceAt+k.aead.NonceSize()]
	if _, err := rand.Read(header[nonceAt:]); err != nil {
		return "", err
	}
	out := k.aead.Seal(header, header[nonceAt:], plain, additionalData(header[:nonceAt], b))
	if base64.RawURLEncoding.EncodedLen(len(out)) > MaxLen {
		return "", ErrTooLong
	}
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open returns the state sealed in token, if token is authentic, bound to b
// and not expired.
func (s *Sealer) Open(b Binding, token string) (State, error) {
	if len(token) == 0 || len(token) > MaxLen {
		return State{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 2 || raw[0] != version {
		return State{}, ErrInvalid
	}
	idLen := int(raw[1])
	if len(raw) < 2+idLen {
		return State{}, ErrInvalid
	}
	k := s.open[string(raw[2:2+idLen])]
	if k == nil {
		return State{}, ErrInvalid
	}
	nonceAt := 2 + idLen
	if len(raw) < nonceAt+k.aead.NonceSize()+k.aead.Overhead() {
		return State{}, ErrInvalid
	}
	nonce := raw[nonceAt : nonceAt+k.aead.NonceSize()]
	plain, err := k.aead.Open(nil, nonce, raw[nonceAt+len(nonce):], additionalData(raw[:nonceAt], b))
	if err != nil {
		return State{}, ErrInvalid
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil {
		// Authentic but undecodable: only a bug of ours could seal that.
		return State{}, ErrInvalid
	}
	if s.now().Unix() >= env.Expires {
		return State{}, ErrExpired
	}
	return env.State, nil
}

// additionalData authenticates the header and the binding. The binding's
// parts are length-prefixed so ("ab","c") and ("a","bc") differ.
func additionalData(header []byte, b Binding) []byte {
	ad := make([]byte, 0, len(header)+len(b.Client)+len(b.Connection)+len(b.Resource)+12)
	ad = append(ad, header...)
	parts := []string{b.Client, b.Connection, b.Resource}
	if b.Compartment != "" {
		// Appended only when set, so cursors of other clients keep the
		// binding they always had.
		parts = append(parts, b.Compartment)
	}
	for _, part := range parts {
		n := len(part)
		ad = append(ad, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		ad = append(ad, part...)
	}
	return ad
}
