package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// A body far past the limit is refused before it is read; the client must
// still get the 413 problem, not a connection reset, every time.
func TestOversizeBodyAnswerSurvivesClose(t *testing.T) {
	e := start(t, nil)
	big := strings.Repeat("x", 8<<20)
	for i := range 10 {
		r := e.do(t, "POST", "/v1/demo/patients", keyDemo, strings.NewReader(big))
		var p unified.Problem
		if r.status != 413 || json.Unmarshal(r.body, &p) != nil || p.Code != unified.CodeRequestTooLarge {
			t.Fatalf("attempt %d: %d %s", i, r.status, r.body)
		}
	}
	// A normal request still works afterwards.
	if r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil); r.status != 200 {
		t.Fatalf("after refusals: %d %s", r.status, r.body)
	}
}

func TestLingerOnCloseFindsTheSocketUnderTLS(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	lc := &lingerConn{Conn: a, slots: make(chan struct{}, 1)}
	lingerOnClose(tls.Server(lc, &tls.Config{}))
	if !lc.linger.Load() {
		t.Fatal("lingerConn under tls.Conn not marked")
	}
	plain := &lingerConn{Conn: b, slots: make(chan struct{}, 1)}
	lingerOnClose(&net.TCPConn{})
	if plain.linger.Load() {
		t.Fatal("unrelated conn marked")
	}
}

// A connection that sends nothing before the read timeout gets a bare 408
// and no audit event (it carried no request); one whose request arrives
// too slowly gets the request_timeout problem and is audited as refused.
func TestReadTimeouts(t *testing.T) {
	e := startWith(t, nil, envOptions{readTimeout: 300 * time.Millisecond})
	ca := newTestCA(t, "ferry test CA")
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = e.srv.ServeAPI(tlsLn, &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "localhost")}})
	}()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	dials := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"plain", func() (net.Conn, error) { return net.Dial("tcp", strings.TrimPrefix(e.base, "http://")) }},
		// Over TLS the counter wraps the tls.Conn: a client that finishes
		// the handshake and sends nothing is idle all the same.
		{"tls", func() (net.Conn, error) {
			return tls.Dial("tcp", tlsLn.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
		}},
	}
	for i, d := range dials {
		answer := func(send string) string {
			c, err := d.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if send != "" {
				if _, err := c.Write([]byte(send)); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c)
			return string(b)
		}
		if got := answer(""); !strings.HasPrefix(got, "HTTP/1.1 408 ") || strings.Contains(got, "problem") {
			t.Fatalf("%s: idle connection: %q", d.name, got)
		}
		if evs := e.audit.events(t); len(evs) != i {
			t.Fatalf("%s: an idle connection was audited: %v", d.name, evs)
		}
		got := answer("GET /v1/demo/patients HTTP/1.1\r\nHost: ferry\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, `"code":"request_timeout"`) {
			t.Fatalf("%s: slow request: %q", d.name, got)
		}
		evs := e.audit.events(t)
		if len(evs) != i+1 || evs[i]["error_code"] != "request_timeout" || evs[i]["action"] != "refused" {
			t.Fatalf("%s: slow request's audit: %v", d.name, evs)
		}
	}
}
