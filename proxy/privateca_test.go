package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/unified"
)

// testCA is a certificate authority made for one test, as a hospital's
// internal CA would be.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// leaf is a server certificate the CA signs for names (DNS names or IPs).
func (ca *testCA) leaf(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestPrivateCAForHTTPS: a FHIR source whose certificate an internal CA
// signed is reached with the connection's ca_file naming that CA, and
// refused without it, with another CA's file, and when the certificate
// names another server.
func TestPrivateCAForHTTPS(t *testing.T) {
	hospital, other := newTestCA(t, "hospital-ca"), newTestCA(t, "other-ca")
	serve := func(cert tls.Certificate) string {
		up := httptest.NewUnstartedServer(sandbox.New(sandbox.Options{}).Handler())
		up.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		up.Config.ErrorLog = log.New(io.Discard, "", 0)
		up.StartTLS()
		t.Cleanup(up.Close)
		return up.URL + "/fhir/R4"
	}
	good := serve(hospital.leaf(t, "127.0.0.1"))
	misnamed := serve(hospital.leaf(t, "fhir.other.example"))
	for _, c := range []struct {
		name, url, caFile string
		want              int
	}{
		{"the hospital's CA", good, hospital.file, 200},
		{"no ca_file: the system's roots", good, "", 503},
		{"another CA", good, other.file, 503},
		{"the certificate names another server", misnamed, hospital.file, 503},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := start(t, func(m map[string]any) {
				cn := connCfg(m, 0)
				cn["base_url"], cn["allow_insecure_http"] = c.url, false
				if c.caFile != "" {
					cn["ca_file"] = c.caFile
				}
			})
			r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil)
			if r.status != c.want {
				t.Fatalf("got %d %s, want %d", r.status, r.body, c.want)
			}
			if c.want != 200 && !strings.Contains(string(r.body), string(unified.CodeSourceUnavailable)) {
				t.Fatalf("refused with %s, want source_unavailable", r.body)
			}
		})
	}
}

// TestPrivateCAForMLLPS: likewise an mllps:// peer (the HL7 v2 sandbox
// behind a TLS front with a certificate from the hospital's CA).
func TestPrivateCAForMLLPS(t *testing.T) {
	hospital := newTestCA(t, "hospital-ca")
	src := newFakeMLLP(t)
	front, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{hospital.leaf(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { front.Close() })
	go func() {
		for {
			c, err := front.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", src.ln.Addr().String())
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c) }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	for _, c := range []struct {
		name, caFile string
		status       int
		code         unified.Code
	}{
		{"the hospital's CA", hospital.file, 200, ""},
		{"no ca_file", "", 503, unified.CodeSourceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := mllpGateway(t, src, func(cn map[string]any) {
				cn["base_url"] = "mllps://" + front.Addr().String()
				if c.caFile != "" {
					cn["ca_file"] = c.caFile
				}
			})
			r := e.get(t, "/v1/demo/patients/SBX-1001", 2*time.Second)
			if r.status != c.status || r.code != c.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.code, c.status, c.code)
			}
		})
	}
}
