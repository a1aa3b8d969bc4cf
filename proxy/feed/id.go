package feed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
)

// ids derives the stable ids of a message and its events, keyed with the
// tenant's audit key: the same message (tenant, connection, MSH-3, MSH-4,
// MSH-10) always gives the same ids, in any process, and nobody without
// the key can derive or predict them.
type ids struct{ key []byte }

// idLabel separates these HMACs from every other use of the audit key.
const idLabel = "ferry/feed/webhook-id/v1"

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// derive returns "msg_" and 26 base32 characters (130 bits) for event n of
// the message (n = -1 for the message itself).
func (d ids) derive(tenant, connection string, h *Header, n int) string {
	m := hmac.New(sha256.New, d.key)
	for _, part := range [][]byte{[]byte(idLabel), []byte(tenant), []byte(connection),
		h.component(3, 1), h.component(4, 1), h.field(10), []byte(strconv.Itoa(n))} {
		// Length-prefixed, so no two different tuples write the same bytes.
		m.Write(strconv.AppendInt(nil, int64(len(part)), 10))
		m.Write([]byte{':'})
		m.Write(part)
	}
	var sum [sha256.Size]byte
	return "msg_" + idEncoding.EncodeToString(m.Sum(sum[:0]))[:26]
}
