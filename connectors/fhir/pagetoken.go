package fhir

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/connectors"
)

// maxTokenLen bounds a page token. The host seals the token into a cursor
// that travels in URLs, so a source whose next links are longer than this
// fails the search rather than minting a cursor no client can send back.
const maxTokenLen = 4096

// maxOffset bounds the offset of an o: token; it keeps the decimal within an
// int on every platform and is far beyond any real search.
const maxOffset = 1_000_000_000

type tokenKind uint8

const (
	tokenNone   tokenKind = iota // the first page
	tokenOffset                  // o:<offset>
	tokenLink                    // l:<path>[?<query>]
)

// pageToken is the decoded NextPageToken of a search: where the next page
// is. The format is described in the package documentation.
type pageToken struct {
	kind   tokenKind
	offset int                // tokenOffset
	path   string             // tokenLink: relative to the connection's base URL
	query  []connectors.Param // tokenLink: in the source's order
}

// String encodes t; the zero token (the first page) encodes as "".
func (t pageToken) String() string {
	switch t.kind {
	case tokenOffset:
		return "o:" + strconv.Itoa(t.offset)
	case tokenLink:
		var b strings.Builder
		b.WriteString("l:")
		b.WriteString(t.path)
		if len(t.query) > 0 {
			b.WriteByte('?')
			for i, p := range t.query {
				if i > 0 {
					b.WriteByte('&')
				}
				b.WriteString(url.QueryEscape(p.Name))
				b.WriteByte('=')
				b.WriteString(url.QueryEscape(p.Value))
			}
		}
		return b.String()
	}
	return ""
}

// parsePageToken decodes a token that String made. The host seals tokens,
// so a malformed one means a bug or a token from a future version; either
// way it is refused as a bad cursor, and only a token with exactly the
// spelling String would give is accepted.
func parsePageToken(s string) (pageToken, error) {
	bad := connectors.InvalidParam("cursor")
	if len(s) > maxTokenLen {
		return pageToken{}, bad
	}
	switch {
	case strings.HasPrefix(s, "o:"):
		n, ok := parseOffset(s[2:])
		if !ok {
			return pageToken{}, bad
		}
		return pageToken{kind: tokenOffset, offset: n}, nil
	case strings.HasPrefix(s, "l:"):
		path, rawQuery, hasQuery := strings.Cut(s[2:], "?")
		if !validRelPath(path) || (path == "" && !hasQuery) {
			return pageToken{}, bad
		}
		t := pageToken{kind: tokenLink, path: path}
		if hasQuery {
			for pair := range strings.SplitSeq(rawQuery, "&") {
				name, value, ok := strings.Cut(pair, "=")
				if !ok || name == "" {
					return pageToken{}, bad
				}
				n, err1 := url.QueryUnescape(name)
				v, err2 := url.QueryUnescape(value)
				if err1 != nil || err2 != nil {
					return pageToken{}, bad
				}
				t.query = append(t.query, connectors.Param{Name: n, Value: v})
			}
		}
		if t.String() != s {
			return pageToken{}, bad
		}
		return t, nil
	}
	return pageToken{}, bad
}

// parseOffset accepts a positive decimal up to maxOffset, without sign or
// leading zero, so that each offset has one spelling.
func parseOffset(s string) (int, bool) {
	if len(s) == 0 || len(s) > len(strconv.Itoa(maxOffset)) || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= maxOffset
}

// validRelPath reports whether p is a path relative to the base URL that the
// host transport will send as it is: segments of unreserved characters and
// '$' (FHIR operations), no dot segment, no empty segment except a trailing
// slash, and no leading slash. The empty path is the base URL itself, where
// some servers (HAPI) point their next links.
func validRelPath(p string) bool {
	if p == "" {
		return true
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if seg == "" {
			if i == 0 || i != len(segs)-1 {
				return false
			}
			continue
		}
		if seg == "." || seg == ".." {
			return false
		}
		for j := 0; j < len(seg); j++ {
			ch := seg[j]
			if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
				ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '$') {
				return false
			}
		}
	}
	return true
}

// linkToken turns the source's next link into an l: token relative to the
// connection's base URL. requested is the relative path of the request whose
// answer carried the link, and self is that answer's self link.
//
// The connector does not know the base URL (the host keeps it), so an
// absolute link is made relative through the self link: the self link names
// the URL the source answered, which is the base URL followed by requested.
// A link to another scheme or host than the self link's, or outside its base
// path, is refused: following it would read a page of something else.
func linkToken(next, self, requested string) (pageToken, error) {
	nu, err := url.Parse(next)
	if err != nil || nu.Opaque != "" || nu.User != nil {
		return pageToken{}, linkError("is not a URL reference")
	}
	rel := nu.EscapedPath()
	if nu.Scheme != "" || nu.Host != "" || strings.HasPrefix(rel, "/") {
		su, err := url.Parse(self)
		if self == "" || err != nil || su.Host == "" || (su.Scheme != "http" && su.Scheme != "https") {
			return pageToken{}, linkError("is absolute but the Bundle has no absolute self link")
		}
		if nu.Scheme != "" && (nu.Host == "" || !strings.EqualFold(nu.Scheme, su.Scheme)) {
			return pageToken{}, linkError("has another scheme than the self link")
		}
		if nu.Host != "" && !strings.EqualFold(nu.Host, su.Host) {
			return pageToken{}, linkError("points to another host than the self link")
		}
		base, ok := basePath(su.EscapedPath(), requested)
		if !ok {
			return pageToken{}, linkError("cannot be placed: the self link does not end with the request's path")
		}
		if rel, ok = underBase(rel, base); !ok {
			return pageToken{}, linkError("points outside the source's base URL")
		}
	}
	if !validRelPath(rel) {
		return pageToken{}, linkError("has a path the connector cannot follow")
	}
	t := pageToken{kind: tokenLink, path: rel}
	if nu.RawQuery != "" {
		for pair := range strings.SplitSeq(nu.RawQuery, "&") {
			if pair == "" {
				continue
			}
			name, value, _ := strings.Cut(pair, "=")
			n, err1 := url.QueryUnescape(name)
			v, err2 := url.QueryUnescape(value)
			if err1 != nil || err2 != nil || n == "" {
				return pageToken{}, linkError("has a malformed query")
			}
			t.query = append(t.query, connectors.Param{Name: n, Value: v})
		}
	}
	if t.path == "" && len(t.query) == 0 {
		return pageToken{}, linkError("names the base URL itself")
	}
	if len(t.String()) > maxTokenLen {
		return pageToken{}, linkError("is too long")
	}
	return t, nil
}

// basePath returns the base URL's path, given the escaped path of a self
// link and the relative path that was requested. Trailing slashes are
// ignored on both, as servers differ on them.
func basePath(selfPath, requested string) (string, bool) {
	selfPath = strings.TrimSuffix(selfPath, "/")
	requested = strings.TrimSuffix(requested, "/")
	if requested == "" {
		return selfPath, true
	}
	if strings.HasSuffix(selfPath, "/"+requested) {
		return selfPath[:len(selfPath)-len(requested)-1], true
	}
	return "", false
}

// underBase returns p relative to base, if p lies under it.
func underBase(p, base string) (string, bool) {
	if p == base || p == base+"/" {
		return "", true
	}
	if rel, ok := strings.CutPrefix(p, base+"/"); ok {
		return rel, true
	}
	return "", false
}

// linkError is the failure to follow a source's next link. The link itself
// is never put in the error: its query carries the search's filters, which
// are PHI.
func linkError(why string) error {
	return connectors.Errorf(connectors.CodeUpstream, "fhir: the source's next link %s", why)
}
