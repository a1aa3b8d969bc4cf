package feed

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// Header is what the host reads of a message: its MSH segment's fields as
// sent (still escaped), which it needs to authenticate the sender, derive
// webhook-ids and address the acknowledgement. The rest of the message is
// the connector's to read.
type Header struct {
	// encoding is MSH-1 and MSH-2 as sent ("|^~\&"), so the ACK is written
	// with the sender's own delimiters and echoed fields stay valid.
	encoding []byte
	// fields are MSH-3 … MSH-12 as sent (index 0 is MSH-3).
	fields [10][]byte
}

// maxHeader bounds the MSH segment the host reads.
const maxHeader = 4 << 10

var errNoHeader = errors.New("feed: the message does not begin with an MSH segment")

// ParseHeader reads the MSH segment at the start of msg. It checks only
// what the host relies on: "MSH", a field separator and encoding
// characters that are distinct and not letters, digits or line ends.
func ParseHeader(msg []byte) (Header, error) {
	var h Header
	if len(msg) < 8 || !bytes.HasPrefix(msg, []byte("MSH")) {
		return h, errNoHeader
	}
	end := bytes.IndexAny(msg, "\r\n")
	if end < 0 {
		end = len(msg)
	}
	if end < 7 || end > maxHeader {
		return h, errNoHeader
	}
	seg := msg[:end]
	fs := seg[3]
	enc, rest, _ := bytes.Cut(seg[4:], []byte{fs})
	if len(enc) < 2 || len(enc) > 5 || !delimiters(fs, enc) {
		return h, errNoHeader
	}
	h.encoding = seg[3 : 4+len(enc)]
	for i := range h.fields {
		var f []byte
		f, rest, _ = bytes.Cut(rest, []byte{fs})
		h.fields[i] = f
		if rest == nil {
			break
		}
	}
	return h, nil
}

// delimiters reports whether the field separator and encoding characters
// are usable: printable, not alphanumeric, all different.
func delimiters(fs byte, enc []byte) bool {
	seen := [256]bool{}
	for _, c := range append([]byte{fs}, enc...) {
		if c <= ' ' || c >= 0x7f || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// field returns MSH-n (3 ≤ n ≤ 12) as sent.
func (h *Header) field(n int) []byte {
	if n < 3 || n > 12 {
		return nil
	}
	return h.fields[n-3]
}

// component returns the first component of MSH-n as sent: the namespace id
// of an HD, the message code of MSH-9.
func (h *Header) component(n, c int) []byte {
	f := h.field(n)
	if len(h.encoding) < 3 {
		return nil
	}
	if rep := bytes.IndexByte(f, h.encoding[2]); rep >= 0 {
		f = f[:rep]
	}
	for i := 1; i < c; i++ {
		_, after, ok := bytes.Cut(f, h.encoding[1:2])
		if !ok {
			return nil
		}
		f = after
	}
	v, _, _ := bytes.Cut(f, h.encoding[1:2])
	return v
}

// SendingApplication and SendingFacility are the namespace ids of MSH-3
// and MSH-4; ControlID is MSH-10.
func (h *Header) SendingApplication() string { return string(h.component(3, 1)) }

// SendingFacility is MSH-4.1.
func (h *Header) SendingFacility() string { return string(h.component(4, 1)) }

// ControlID is MSH-10, the sender's id of the message.
func (h *Header) ControlID() string { return string(h.field(10)) }

// The acknowledgement codes Ferry answers. Never CA or CE/CR (enhanced
// mode): a commit accept promises the message is safely stored.
const (
	AckAccept = "AA"
	AckError  = "AE"
	AckReject = "AR"
)

// AppendAck writes the ACK of the message h heads: MSH (the sender's
// delimiters, MSH-5/6 ← its MSH-3/4, MSH-3/4 ← its MSH-5/6, MSH-9
// ACK^<trigger>^ACK, MSH-10 a control id of Ferry's, its MSH-11 and 12),
// then MSA (code, its MSH-10). An AE or AR carries a fixed reason in MSA-3
// and nothing of the message.
func AppendAck(dst []byte, h *Header, code, reason, controlID string, now time.Time) []byte {
	// The sender's own delimiters (ParseHeader accepted them), so the
	// fields echoed from its header keep their structure.
	enc := h.encoding
	if len(enc) < 3 {
		enc = []byte(`|^~\&`)
	}
	fs := enc[0]
	dst = append(dst, "MSH"...)
	dst = append(dst, enc...)
	for _, f := range [][]byte{h.field(5), h.field(6), h.field(3), h.field(4)} {
		dst = append(dst, fs)
		dst = append(dst, echo(f)...)
	}
	dst = append(dst, fs)
	dst = now.UTC().AppendFormat(dst, "20060102150405")
	dst = append(dst, "+0000"...)
	dst = append(dst, fs, fs)
	dst = append(dst, "ACK"...)
	if trig := echo(h.component(9, 2)); len(trig) > 0 {
		dst = append(dst, enc[1])
		dst = append(dst, trig...)
		dst = append(dst, enc[1])
		dst = append(dst, "ACK"...)
	}
	dst = append(dst, fs)
	dst = append(dst, controlID...)
	dst = append(dst, fs)
	dst = append(dst, echo(h.field(11))...)
	dst = append(dst, fs)
	dst = append(dst, echo(h.field(12))...)
	dst = append(dst, '\r')
	dst = append(dst, "MSA"...)
	dst = append(dst, fs)
	dst = append(dst, code...)
	dst = append(dst, fs)
	dst = append(dst, echo(h.field(10))...)
	if reason != "" {
		dst = append(dst, fs)
		dst = append(dst, reason...)
	}
	return append(dst, '\r')
}

// maxEcho bounds a field echoed into an ACK: the longest HD (MSH-3 … 6)
// is 227 characters and a control id 199. A longer one is left out, so an
// ACK stays small whatever the message held.
const maxEcho = 227

func echo(f []byte) []byte {
	if len(f) > maxEcho {
		return nil
	}
	return f
}

// ackControlID is the control id of Ferry's n-th ACK on a connection.
func ackControlID(prefix string, n uint64) string {
	return prefix + strconv.FormatUint(n, 36)
}
