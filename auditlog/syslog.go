package auditlog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// DefaultSyslogFacility is RFC 5424's facility 13, "log audit".
const DefaultSyslogFacility = 13

// syslogSeverity is 6, "informational": an audit event is a record, not an
// alarm.
const syslogSeverity = 6

// SyslogOptions configure NewSyslog.
type SyslogOptions struct {
	// Address is the collector's host:port.
	Address string
	// TLS, when set, connects with TLS (RFC 5425); otherwise plain TCP.
	TLS *tls.Config
	// Facility is 0 to 23; 0 means DefaultSyslogFacility (facility 0,
	// kernel messages, is not for applications).
	Facility int
	// Hostname is the HOSTNAME field; default os.Hostname().
	Hostname string
}

// SyslogSink sends each event as one RFC 5424 message over TCP or TLS,
// framed by octet counting (RFC 6587 §3.4.1: the message length, a space,
// the message), so a message may hold any byte. The message is:
//
//	<PRI>1 TIMESTAMP HOSTNAME ferry PROCID audit - EVENT
//
// with PRI = facility*8 + 6 (informational), TIMESTAMP the event's time in
// UTC with microseconds, no structured data, and EVENT the canonical JSON
// line, byte for byte, so the collector's copy verifies.
//
// TCP acknowledges bytes, not messages: a batch counts as delivered once the
// kernel took it. Before each batch the sink checks that the collector has
// not closed the connection, and reconnects if it has, so a restarted
// collector loses nothing that was sent after it went away.
type SyslogSink struct {
	o        SyslogOptions
	pri      string
	hostname string
	procID   string

	mu   sync.Mutex
	conn net.Conn
}

var _ BatchSink = (*SyslogSink)(nil)

// NewSyslog returns a syslog sink; it connects on the first batch.
func NewSyslog(o SyslogOptions) (*SyslogSink, error) {
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		return nil, errors.New("auditlog: syslog: address must be host:port")
	}
	if o.Facility == 0 {
		o.Facility = DefaultSyslogFacility
	}
	if o.Facility < 0 || o.Facility > 23 {
		return nil, errors.New("auditlog: syslog: facility must be 0 to 23")
	}
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	return &SyslogSink{
		o: o, pri: "<" + strconv.Itoa(o.Facility*8+syslogSeverity) + ">",
		hostname: printUSASCII(host, 255), procID: strconv.Itoa(os.Getpid()),
	}, nil
}

// printUSASCII keeps a header field to RFC 5424's PRINTUSASCII (33-126)
// and its length limit, or gives the NILVALUE.
func printUSASCII(s string, maxLen int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < maxLen; i++ {
		if s[i] >= 33 && s[i] <= 126 {
			b = append(b, s[i])
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// syslogTime is RFC 5424's TIMESTAMP with microseconds (its maximum).
const syslogTime = "2006-01-02T15:04:05.000000Z07:00"

// appendFrame appends one octet-counted RFC 5424 message.
func (s *SyslogSink) appendFrame(dst []byte, r Record) []byte {
	var hdr [128]byte
	h := append(hdr[:0], s.pri...)
	h = append(h, "1 "...)
	h = r.Time.UTC().AppendFormat(h, syslogTime)
	msgLen := len(h) + 1 + len(s.hostname) + len(" ferry ") + len(s.procID) + len(" audit - ") + len(r.Line)
	dst = strconv.AppendInt(dst, int64(msgLen), 10)
	dst = append(dst, ' ')
	dst = append(dst, h...)
	dst = append(dst, ' ')
	dst = append(dst, s.hostname...)
	dst = append(dst, " ferry "...)
	dst = append(dst, s.procID...)
	dst = append(dst, " audit - "...)
	return append(dst, r.Line...)
}

// WriteBatch implements BatchSink: all frames of the batch in one write.
func (s *SyslogSink) WriteBatch(ctx context.Context, b *Batch) error {
	if b == nil || len(b.Records) == 0 {
		return errNilBatch
	}
	buf := make([]byte, 0, linesSize(b.Records)+len(b.Records)*96)
	for _, r := range b.Records {
		buf = s.appendFrame(buf, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && !peerOpen(s.conn) {
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		s.conn = c
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultSinkTimeout)
	}
	_ = s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(buf); err != nil {
		// Part of the batch may have gone out; the retry resends all of
		// it, which verify reports as duplicates, not as tampering.
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("auditlog: syslog write to %s: %w", s.o.Address, err)
	}
	return nil
}

func (s *SyslogSink) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	if s.o.TLS != nil {
		td := &tls.Dialer{NetDialer: d, Config: s.o.TLS}
		c, err := td.DialContext(ctx, "tcp", s.o.Address)
		if err != nil {
			return nil, fmt.Errorf("auditlog: syslog TLS dial %s: %w", s.o.Address, err)
		}
		return c, nil
	}
	c, err := d.DialContext(ctx, "tcp", s.o.Address)
	if err != nil {
		return nil, fmt.Errorf("auditlog: syslog dial %s: %w", s.o.Address, err)
	}
	return c, nil
}

// peerOpen reports whether the collector still has the connection open. A
// syslog collector never writes, so a read that times out at once means
// "open"; EOF, a reset or any data means it is gone or confused.
func peerOpen(c net.Conn) bool {
	if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return false
	}
	var one [1]byte
	_, err := c.Read(one[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Close closes the connection.
func (s *SyslogSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}
