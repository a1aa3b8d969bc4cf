package proxy

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"strings"
	"testing"

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
