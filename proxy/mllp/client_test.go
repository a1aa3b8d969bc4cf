package mllp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests run the client against small in-process peers that misbehave
// on purpose; internal/testpeer's tests run it against real MLLP servers
// (python-hl7, @medplum/hl7).

// peer is an in-process MLLP server on 127.0.0.1 whose behaviour per
// connection is the test's handler.
type peer struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup
}

func startPeer(t *testing.T, tlsConf *tls.Config, handle func(c net.Conn)) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	p := &peer{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *peer) addr() string { return p.ln.Addr().String() }

// echo answers every frame with "ACK " and the frame, until the client
// closes the connection.
func echo(c net.Conn) {
	r := NewReader(c, 0)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		b, _ := AppendFrame(nil, append([]byte("ACK "), f...))
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantKind(t *testing.T, err error, k Kind) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != k {
		t.Fatalf("error %v, want an *Error of kind %v", err, k)
	}
	switch k {
	case KindTimeout:
		if !errors.Is(err, ErrTimeout) || !e.Timeout() {
			t.Errorf("%v does not match ErrTimeout", err)
		}
	case KindUnavailable:
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%v does not match ErrUnavailable", err)
		}
	case KindProtocol:
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%v does not match ErrProtocol", err)
		}
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q quotes the message", err)
	}
}

const secretMsg = "MSH|^~\\&|A\rPID|1||SECRET-MRN\r"

func TestExchange(t *testing.T) {
	p := startPeer(t, nil, echo)
	c := newClient(t, Config{Addr: p.addr()})
	for i := range 3 {
		msg := fmt.Sprintf("MSH|^~\\&|A|%d\r", i)
		got, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "ACK "+msg {
			t.Errorf("reply %q", got)
		}
	}
	if n := p.conns.Load(); n != 1 {
		t.Errorf("%d connections for three exchanges, want 1 (kept open)", n)
	}
}

// TestExchangeSerialized runs exchanges from many goroutines against a peer
// that fails the test if a second request arrives before it has answered
// the first: MLLP allows one request in flight per connection.
func TestExchangeSerialized(t *testing.T) {
	var overlap atomic.Bool
	p := startPeer(t, nil, func(c net.Conn) {
		r := NewReader(c, 0)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			// Anything arriving while this request is unanswered is a
			// second request in flight.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			if r.Buffered() > 0 {
				overlap.Store(true)
			} else if _, err := r.br.Peek(1); err == nil {
				overlap.Store(true)
			}
			_ = c.SetReadDeadline(time.Time{})
			b, _ := AppendFrame(nil, append([]byte("ACK "), f...))
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
	c := newClient(t, Config{Addr: p.addr()})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := fmt.Sprintf("MSH|^~\\&|A|%d\r", i)
			got, err := c.Exchange(ctxTimeout(t, 10*time.Second), []byte(msg))
			if err == nil && string(got) != "ACK "+msg {
				err = fmt.Errorf("request %d got the answer %q", i, got)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if overlap.Load() {
		t.Error("a request was sent before the previous one was answered")
	}
}

func TestExchangeSlowPeerTimesOut(t *testing.T) {
	release := make(chan struct{})
	p := startPeer(t, nil, func(c net.Conn) {
		r := NewReader(c, 0)
		if _, err := r.ReadFrame(); err != nil {
			return
		}
		<-release
	})
	defer close(release)
	c := newClient(t, Config{Addr: p.addr()})
	start := time.Now()
	_, err := c.Exchange(ctxTimeout(t, 100*time.Millisecond), []byte(secretMsg))
	wantKind(t, err, KindTimeout)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the exchange took %s with a 100 ms deadline", d)
	}

	// A caller waiting for its turn behind a slow exchange times out too.
	go func() { _, _ = c.Exchange(ctxTimeout(t, 2*time.Second), []byte("MSH|^~\\&|A\r")) }()
	time.Sleep(50 * time.Millisecond)
	_, err = c.Exchange(ctxTimeout(t, 50*time.Millisecond), []byte("MSH|^~\\&|B\r"))
	wantKind(t, err, KindTimeout)
}

func TestExchangeCancel(t *testing.T) {
	p := startPeer(t, nil, func(c net.Conn) {
		_, _ = NewReader(c, 0).ReadFrame()
		time.Sleep(time.Second)
	})
	c := newClient(t, Config{Addr: p.addr()})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Exchange(ctx, []byte(secretMsg))
	wantKind(t, err, KindTimeout)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

func TestExchangeDefaultTimeout(t *testing.T) {
	p := startPeer(t, nil, func(c net.Conn) {
		_, _ = NewReader(c, 0).ReadFrame()
		time.Sleep(time.Second)
	})
	c := newClient(t, Config{Addr: p.addr(), Timeout: 100 * time.Millisecond})
	_, err := c.Exchange(context.Background(), []byte(secretMsg))
	wantKind(t, err, KindTimeout)
}

// TestExchangeReconnects: a peer that closes the connection after every
// answer (or while idle) costs nothing but a new connection; the request
// is resent once, transparently.
func TestExchangeReconnects(t *testing.T) {
	p := startPeer(t, nil, func(c net.Conn) {
		r := NewReader(c, 0)
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		b, _ := AppendFrame(nil, append([]byte("ACK "), f...))
		_, _ = c.Write(b)
	})
	c := newClient(t, Config{Addr: p.addr()})
	for i := range 3 {
		got, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte("MSH|^~\\&|A\r"))
		if err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
		if string(got) != "ACK MSH|^~\\&|A\r" {
			t.Errorf("reply %q", got)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	if n := p.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestExchangeAfterBrokenConnection: a peer that dies mid-answer fails that
// exchange (not resent: the request may have been processed), and the next
// exchange gets a new connection.
func TestExchangeAfterBrokenConnection(t *testing.T) {
	var n atomic.Int32
	p := startPeer(t, nil, func(c net.Conn) {
		if n.Add(1) == 1 {
			_, _ = NewReader(c, 0).ReadFrame()
			_, _ = c.Write([]byte("\x0bMSH|^~\\&|half an answ"))
			return
		}
		echo(c)
	})
	c := newClient(t, Config{Addr: p.addr()})
	_, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
	wantKind(t, err, KindProtocol)
	if !errors.Is(err, ErrMissingTrailer) {
		t.Errorf("error %v, want ErrMissingTrailer", err)
	}
	got, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte("MSH|^~\\&|B\r"))
	if err != nil || string(got) != "ACK MSH|^~\\&|B\r" {
		t.Fatalf("after a broken connection: %q, %v", got, err)
	}
}

func TestExchangePeerClosesWithoutAnswer(t *testing.T) {
	p := startPeer(t, nil, func(c net.Conn) {
		_, _ = NewReader(c, 0).ReadFrame()
	})
	c := newClient(t, Config{Addr: p.addr()})
	_, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
	wantKind(t, err, KindUnavailable)
}

func TestExchangeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, Config{Addr: addr})
	_, err = c.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
	wantKind(t, err, KindUnavailable)
}

func TestExchangeOversizeAnswer(t *testing.T) {
	p := startPeer(t, nil, func(c net.Conn) {
		_, _ = NewReader(c, 0).ReadFrame()
		b, _ := AppendFrame(nil, []byte(strings.Repeat("x", 2000)))
		_, _ = c.Write(b)
	})
	c := newClient(t, Config{Addr: p.addr(), MaxFrame: 1000})
	_, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
	wantKind(t, err, KindProtocol)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("error %v, want ErrFrameTooLarge", err)
	}
}

// TestExchangeTwoAnswers: a peer that sends two frames for one request (in
// one write) must not have its second frame taken as the answer to the next
// request.
func TestExchangeTwoAnswers(t *testing.T) {
	p := startPeer(t, nil, func(c net.Conn) {
		r := NewReader(c, 0)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			a, _ := AppendFrame(nil, append([]byte("FIRST "), f...))
			b, _ := AppendFrame(a, append([]byte("SECOND "), f...))
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
	c := newClient(t, Config{Addr: p.addr()})
	for _, m := range []string{"MSH|1\r", "MSH|2\r"} {
		got, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte(m))
		if err != nil || string(got) != "FIRST "+m {
			t.Fatalf("Exchange(%q) = %q, %v", m, got, err)
		}
	}
	if n := p.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the first dropped for its extra answer)", n)
	}
}

func TestExchangeRefusesFramingBytes(t *testing.T) {
	c := newClient(t, Config{Addr: "127.0.0.1:1"})
	_, err := c.Exchange(ctxTimeout(t, time.Second), []byte("MSH|\x1c"))
	wantKind(t, err, KindProtocol)
}

func TestExchangeIdleReconnect(t *testing.T) {
	p := startPeer(t, nil, echo)
	c := newClient(t, Config{Addr: p.addr(), IdleTimeout: 30 * time.Millisecond})
	for range 2 {
		if _, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte("MSH|1\r")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	if n := p.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the idle one replaced)", n)
	}
}

func TestClose(t *testing.T) {
	p := startPeer(t, nil, func(c net.Conn) {
		_, _ = NewReader(c, 0).ReadFrame()
		time.Sleep(2 * time.Second)
	})
	c := newClient(t, Config{Addr: p.addr()})
	done := make(chan error, 1)
	go func() {
		_, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		wantKind(t, err, KindUnavailable)
	case <-time.After(time.Second):
		t.Fatal("Close did not interrupt the exchange")
	}
	_, err := c.Exchange(ctxTimeout(t, time.Second), []byte("MSH|1\r"))
	wantKind(t, err, KindUnavailable)
}

func TestNewClientConfig(t *testing.T) {
	for _, addr := range []string{"", "no-port", "mllp://host:2575"} {
		if _, err := NewClient(Config{Addr: addr}); err == nil {
			t.Errorf("NewClient(%q) must fail", addr)
		}
	}
	c, err := NewClient(Config{Addr: "example.org:2575", TLS: &tls.Config{MinVersion: tls.VersionTLS10}})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.TLS.MinVersion != tls.VersionTLS12 || c.cfg.TLS.ServerName != "example.org" {
		t.Errorf("TLS config %d %q", c.cfg.TLS.MinVersion, c.cfg.TLS.ServerName)
	}
}

// testCert makes a throwaway CA-less certificate for 127.0.0.1 and a pool
// that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestExchangeTLS(t *testing.T) {
	cert, pool := testCert(t)
	p := startPeer(t, &tls.Config{Certificates: []tls.Certificate{cert}}, echo)
	c := newClient(t, Config{Addr: p.addr(), TLS: &tls.Config{RootCAs: pool}})
	got, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte("MSH|T\r"))
	if err != nil || string(got) != "ACK MSH|T\r" {
		t.Fatalf("Exchange over TLS = %q, %v", got, err)
	}

	// A server that offers only TLS 1.1 is refused, whatever the caller's
	// config allowed.
	old := startPeer(t, &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS11}, echo)
	c2 := newClient(t, Config{Addr: old.addr(), TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10}})
	_, err = c2.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
	wantKind(t, err, KindUnavailable)

	// An untrusted certificate is refused.
	c3 := newClient(t, Config{Addr: p.addr(), TLS: &tls.Config{}})
	_, err = c3.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
	wantKind(t, err, KindUnavailable)
}

// TestExchangeDial checks that every connection goes through the configured
// dialer, as the host's egress policy needs.
func TestExchangeDial(t *testing.T) {
	p := startPeer(t, nil, echo)
	var dials atomic.Int32
	denied := errors.New("egress denied")
	c := newClient(t, Config{Addr: p.addr(), Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) > 1 {
			return nil, denied
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	if _, err := c.Exchange(ctxTimeout(t, 5*time.Second), []byte("MSH|1\r")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2 := newClient(t, Config{Addr: p.addr(), Dial: c.cfg.Dial})
	_, err := c2.Exchange(ctxTimeout(t, 5*time.Second), []byte(secretMsg))
	wantKind(t, err, KindUnavailable)
	if !errors.Is(err, denied) {
		t.Errorf("error %v does not wrap the dialer's", err)
	}
}
