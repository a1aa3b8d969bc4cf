package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// secretPrefix begins a Standard Webhooks signing secret; base64 follows.
const secretPrefix = "whsec_"

// Secret lengths accepted, in bytes: Standard Webhooks asks for 24 to 64.
const minSecret, maxSecret = 24, 64

var errSecret = errors.New("webhook: a signing secret must be whsec_ and the base64 of 24 to 64 bytes")

// ParseSecret decodes a signing secret as Standard Webhooks writes it
// ("whsec_" and base64). The error never repeats the value.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), secretPrefix)
	if !ok {
		return nil, errSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < minSecret || len(key) > maxSecret {
		return nil, errSecret
	}
	return key, nil
}

// AppendSignature appends the webhook-signature header's value for one
// delivery to dst: "v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>"
// for each key, separated by spaces.
func AppendSignature(dst []byte, keys [][]byte, id string, timestamp int64, body []byte) []byte {
	var ts [20]byte
	t := strconv.AppendInt(ts[:0], timestamp, 10)
	var sum [sha256.Size]byte
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write(t)
		m.Write([]byte{'.'})
		m.Write(body)
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, "v1,"...)
		dst = base64.StdEncoding.AppendEncode(dst, m.Sum(sum[:0]))
	}
	return dst
}
