package hl7v2

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/connectors"
)

// maxOffset bounds an o: token; no PDQ answer is anywhere near as long.
const maxOffset = 1_000_000

type tokenKind uint8

const (
	tokenNone         tokenKind = iota // the first page
	tokenContinuation                  // c:<query tag>:<base64url of DSC-1>
	tokenOffset                        // o:<offset>
)

// pageToken is the decoded NextPageToken of a search. The format is
// described in the package documentation.
type pageToken struct {
	kind    tokenKind
	tag     string // tokenContinuation: QPD-2 of the query being continued
	pointer string // tokenContinuation: DSC-1 of the previous answer
	offset  int    // tokenOffset
}

func (t pageToken) String() string {
	switch t.kind {
	case tokenContinuation:
		return "c:" + t.tag + ":" + base64.RawURLEncoding.EncodeToString([]byte(t.pointer))
	case tokenOffset:
		return "o:" + strconv.Itoa(t.offset)
	}
	return ""
}

// parsePageToken decodes a token String made, refusing any other spelling
// as a bad cursor.
func parsePageToken(s string) (pageToken, error) {
	bad := connectors.InvalidParam("cursor")
	var t pageToken
	switch {
	case strings.HasPrefix(s, "c:"):
		tag, p, ok := strings.Cut(s[2:], ":")
		if !ok || !validTag(tag) {
			return pageToken{}, bad
		}
		ptr, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || len(ptr) == 0 || len(ptr) > maxPointer || hasControl(string(ptr)) {
			return pageToken{}, bad
		}
		t = pageToken{kind: tokenContinuation, tag: tag, pointer: string(ptr)}
	case strings.HasPrefix(s, "o:"):
		v := s[2:]
		if v == "" || len(v) > 7 || v[0] == '0' || !digits(v) {
			return pageToken{}, bad
		}
		n, _ := strconv.Atoi(v)
		if n > maxOffset {
			return pageToken{}, bad
		}
		t = pageToken{kind: tokenOffset, offset: n}
	default:
		return pageToken{}, bad
	}
	if t.String() != s {
		return pageToken{}, bad
	}
	return t, nil
}

// validTag accepts a query tag as the connector makes them: 1–32 ASCII
// letters and digits.
func validTag(s string) bool {
	if s == "" || len(s) > maxQueryTag {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
