//go:build unix

package testpeer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestRsyslog sends one octet-counted RFC 5424 message over TCP and one
// over TLS, and reads both back as rsyslog parsed them. Run it alone with
// `go test ./internal/testpeer -run TestRsyslog`.
func TestRsyslog(t *testing.T) {
	r := StartRsyslog(t)
	msg := func(body string) []byte {
		m := "<110>1 2026-03-14T14:26:53.589793Z host ferry 42 audit - " + body
		return fmt.Appendf(nil, "%d %s", len(m), m)
	}
	c, err := net.DialTimeout("tcp", r.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(msg(`{"a":"tcp"}`)); err != nil {
		t.Fatal(err)
	}
	c.Close()

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(r.CAPEM) {
		t.Fatal("CA PEM not usable")
	}
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", r.TLSAddr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS handshake with rsyslog: %v", err)
	}
	if _, err := tc.Write(msg(`{"a":"tls"}`)); err != nil {
		t.Fatal(err)
	}
	tc.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := r.Messages()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 2 {
			got := map[string]SyslogMessage{}
			for _, m := range msgs {
				got[m.Input] = m
			}
			for in, want := range map[string]string{"tcp": `{"a":"tcp"}`, "tls": `{"a":"tls"}`} {
				m := got[in]
				if m.Msg != want || m.AppName != "ferry" || m.MsgID != "audit" || m.PRI != "110" || m.Version != "1" {
					t.Errorf("%s message parsed as %+v", in, m)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d messages, want 2: %+v", len(msgs), msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	r.Restart(t)
	c, err = net.DialTimeout("tcp", r.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	c.Close()
}
