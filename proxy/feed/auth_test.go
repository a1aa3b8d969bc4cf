package feed

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
)

// pki is a CA with a server certificate (127.0.0.1) and two client
// certificates, written to dir as PEM.
type pki struct {
	dir                string
	roots              *x509.CertPool
	clientA, clientB   tls.Certificate
	clientASum         string
	serverCert, server string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{dir: dir, roots: x509.NewCertPool()}
	p.roots.AddCert(ca)
	write := func(name string, blockType string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("ca.pem", "CERTIFICATE", caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ip bool) (tls.Certificate, []byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		if ip {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, keyDER
	}
	_, srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth, true)
	p.serverCert, p.server = write("server.pem", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", srvKey)
	var aDER []byte
	p.clientA, aDER, _ = issue(3, x509.ExtKeyUsageClientAuth, false)
	p.clientB, _, _ = issue(4, x509.ExtKeyUsageClientAuth, false)
	sum := sha256.Sum256(aDER)
	p.clientASum = hex.EncodeToString(sum[:])
	return p
}

// tlsACK sends one message over TLS with cert (nil: none) and returns its
// MSA-1, or "" when the feed refused the connection.
func tlsACK(t *testing.T, addr string, p *pki, cert *tls.Certificate, maxVersion uint16) string {
	t.Helper()
	conf := &tls.Config{RootCAs: p.roots, MaxVersion: maxVersion}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return ""
	}
	defer c.Close()
	return send(t, c, adt("A01", "T1", "EPICADT"))
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	fx := startFeed(t, func(f *config.Feed, _ *config.Webhook) {
		f.TLS = &config.FeedTLS{CertFile: p.serverCert, KeyFile: p.server, ClientCAFile: filepath.Join(p.dir, "ca.pem"),
			ClientCertSHA256: []string{p.clientASum}}
	})
	if got := tlsACK(t, fx.addr, p, &p.clientA, 0); got != AckAccept {
		t.Fatalf("pinned client: %q", got)
	}
	if got := tlsACK(t, fx.addr, p, &p.clientB, 0); got != "" {
		t.Fatalf("a client of the CA that is not pinned: %q", got)
	}
	if got := tlsACK(t, fx.addr, p, nil, 0); got != "" {
		t.Fatalf("no client certificate: %q", got)
	}
	if got := tlsACK(t, fx.addr, p, &p.clientA, tls.VersionTLS11); got != "" {
		t.Fatalf("TLS 1.1: %q", got)
	}
	// Plain MLLP on a TLS feed gets nothing.
	c := dial(t, fx.addr)
	if got := send(t, c, adt("A01", "T2", "EPICADT")); got != "" {
		t.Fatalf("plain TCP: %q", got)
	}
	// The client can see the refusal before the feed counts it.
	for deadline := time.Now().Add(3 * time.Second); fx.feed.Stats.Refused.Load() < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("refused %d", fx.feed.Stats.Refused.Load())
		}
	}
}

func TestCIDRAndConnectionLimit(t *testing.T) {
	fx := startFeed(t, func(f *config.Feed, _ *config.Webhook) { f.AllowedCIDRs = []string{"10.0.0.0/8"} })
	if got := send(t, dial(t, fx.addr), adt("A01", "C1", "EPICADT")); got != "" {
		t.Fatalf("outside the allowlist: %q", got)
	}
	fx = startFeed(t, func(f *config.Feed, _ *config.Webhook) {
		f.AllowedCIDRs, f.MaxConnections = []string{"127.0.0.0/8"}, 1
	})
	first := dial(t, fx.addr)
	if got := send(t, first, adt("A01", "C1", "EPICADT")); got != AckAccept {
		t.Fatalf("inside the allowlist: %q", got)
	}
	if got := send(t, dial(t, fx.addr), adt("A01", "C2", "EPICADT")); got != "" {
		t.Fatalf("over the connection limit: %q", got)
	}
	first.Close()
	time.Sleep(100 * time.Millisecond)
	if got := send(t, dial(t, fx.addr), adt("A01", "C3", "EPICADT")); got != AckAccept {
		t.Fatalf("after the first closed: %q", got)
	}
}

func TestOnFailureCloseAndIdle(t *testing.T) {
	fx := startFeed(t, func(f *config.Feed, _ *config.Webhook) {
		f.OnFailure, f.AckBudget, f.IdleTimeout = config.FeedOnFailureClose, config.Duration(500*time.Millisecond), config.Duration(300*time.Millisecond)
	})
	fx.recv.answer.Store(func(string) int { return 500 })
	start := time.Now()
	if got := send(t, dial(t, fx.addr), adt("A01", "C1", "EPICADT")); got != "" {
		t.Fatalf("on_failure close answered %q", got)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("the close came after the budget")
	}
	// An idle connection is closed at idle_timeout.
	c := dial(t, fx.addr)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start = time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("idle connection kept %s (%v)", time.Since(start), err)
	}
}
