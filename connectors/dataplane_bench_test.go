//go:build unix

package connectors

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// BenchmarkDataPlane prices one read over the data plane, the way W1 makes
// it (the host's prefetched 3.5 KB answer out, a record back), on the bare
// socket pair and with TLS on it: the measurement behind the decision that
// the data plane carries no TLS (docs/design.md, "The plugin hop").
//
//	go test -run '^$' -bench DataPlane -benchmem ./   (in connectors/)
func BenchmarkDataPlane(b *testing.B) {
	for _, withTLS := range []bool{false, true} {
		name := "plain"
		if withTLS {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			h := benchPlane(b, withTLS)
			ctx := context.Background()
			req := &ReadRequest{ConnectionID: "c", Resource: unified.Patients, ID: "p-1"}
			pre := &Prefetched{Request: prefetchRequest, Response: &HTTPResponse{Status: 200, Body: make([]byte, 3500)}}
			b.ReportAllocs()
			b.Run("sequential", func(b *testing.B) {
				for b.Loop() {
					resp, _, err := h.Read(ctx, req, pre)
					if err != nil {
						b.Fatal(err)
					}
					resp.Release()
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, _, err := h.Read(ctx, req, pre)
						if err != nil {
							b.Error(err)
							return
						}
						resp.Release()
					}
				})
			})
		})
	}
}

func benchPlane(b *testing.B, withTLS bool) *HostConn {
	b.Helper()
	hc, pf, err := DataPlanePair()
	if err != nil {
		b.Fatal(err)
	}
	pc, _ := net.FileConn(pf)
	pf.Close()
	var hostSide, pluginSide net.Conn = hc, pc
	if withTLS {
		cert := selfSigned(b)
		pool := x509.NewCertPool()
		pool.AddCert(cert.Leaf)
		srv := tls.Server(pc, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		cli := tls.Client(hc, &tls.Config{RootCAs: pool, ServerName: "plugin", MinVersion: tls.VersionTLS12})
		done := make(chan error, 1)
		go func() { done <- srv.Handshake() }()
		if err := cli.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		hostSide, pluginSide = cli, srv
	}
	go func() { _ = ServeDataPlane(pluginSide, prefetchConn{}) }()
	h := NewHostConn(hostSide)
	b.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := h.WaitHello(ctx); err != nil {
		b.Fatal(err)
	}
	return h
}

func selfSigned(b *testing.B) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"plugin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
