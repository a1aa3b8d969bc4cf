package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"

	"github.com/ferryhealth/ferry/unified"
)

// Writes are made safe to retry without Ferry storing anything: the source
// is the idempotency store (docs/writes.md). From a create's
// Idempotency-Key Ferry derives an identifier that the connector writes
// with the record and creates on conditionally, and from its body a digest
// written beside it. Both are HMACs under a key derived from the tenant's
// audit key, so the source never sees the client's key, an identifier
// cannot be computed without the tenant's key material, and the digest of
// a short body (a blood pressure) cannot be reversed by trying values.

const (
	writeKeyDomain    = "ferry/write/v1"
	idempotencyDomain = "ferry/write/idempotency_id/v1"
	digestDomain      = "ferry/write/body_digest/v1"
)

// deriveWriteKey derives the tenant's write key from its audit key, so that
// the two uses never share a key.
func deriveWriteKey(auditKey []byte) []byte {
	m := hmac.New(sha256.New, auditKey)
	m.Write([]byte(writeKeyDomain))
	return m.Sum(nil)
}

// keyedDigest is base64url(HMAC-SHA256(key, domain, parts...)), each part
// length-prefixed so that ("ab", "c") and ("a", "bc") differ.
func keyedDigest(key []byte, domain string, parts ...[]byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domain))
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// idempotencyID is the identifier a create with this Idempotency-Key is
// stored under: per client (two clients' equal keys never meet), per
// connection and resource.
func idempotencyID(writeKey []byte, client, connection string, resource unified.ResourceType, key []byte) string {
	return keyedDigest(writeKey, idempotencyDomain, []byte(client), []byte(connection), []byte(resource), key)
}

// bodyDigest is the digest of a create's normalised body.
func bodyDigest(writeKey []byte, resource unified.ResourceType, normalised []byte) string {
	return keyedDigest(writeKey, digestDomain, []byte(resource), normalised)
}

// validIdempotencyKey: 1 to 255 visible ASCII characters, as the IETF
// Idempotency-Key draft's examples and every vendor's keys (UUIDs) are.
func validIdempotencyKey(k []byte) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// createLocks serialises the creates of one idempotency identifier within
// this replica: 50 concurrent retries of one create reach the source one
// at a time, each a conditional create that finds the first one's record.
// It is only an economy and a second fence: across replicas, the
// guarantee is the source's conditional create (docs/writes.md says what
// it must support). Entries live only while a create of their identifier
// is in flight.
type createLocks struct {
	mu    sync.Mutex
	locks map[string]*createLock
}

type createLock struct {
	ch   chan struct{} // cap 1: held while full
	refs int
}

// acquire waits for the identifier's turn, or for done; it reports whether
// it got it. release must follow a successful acquire.
func (l *createLocks) acquire(id string, done <-chan struct{}) bool {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*createLock{}
	}
	k := l.locks[id]
	if k == nil {
		k = &createLock{ch: make(chan struct{}, 1)}
		l.locks[id] = k
	}
	k.refs++
	l.mu.Unlock()
	select {
	case k.ch <- struct{}{}:
		return true
	case <-done:
		l.drop(id, k)
		return false
	}
}

func (l *createLocks) release(id string) {
	l.mu.Lock()
	k := l.locks[id]
	l.mu.Unlock()
	<-k.ch
	l.drop(id, k)
}

func (l *createLocks) drop(id string, k *createLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k.refs--
	if k.refs == 0 {
		delete(l.locks, id)
	}
}
