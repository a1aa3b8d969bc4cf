package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/plugins/sandbox"
	"github.com/ferryhealth/ferry/unified"
)

// What the sandbox costs: a plugin's start with the full sandbox and with
// it off, and a call to a running plugin both ways (the sandbox acts at
// exec only; a call should cost the same). Figures in docs/performance.md:
//
//	go test -run '^$' -bench 'PluginStart|PluginCall' -count 10 ./plugins/

func benchPlugin(b *testing.B) (string, []byte) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "testplugin")
	if out, err := exec.Command("go", "build", "-o", path, "./internal/testplugin").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	s := sha256.Sum256(data)
	return path, s[:]
}

var benchModes = []sandbox.Mode{sandbox.ModeRequired, sandbox.ModeOff}

// BenchmarkPluginStart: from NewHost to WaitReady: the binary hashed, the
// launcher, the go-plugin handshake with AutoMTLS, the data plane's Hello,
// Metadata, one connection configured.
func BenchmarkPluginStart(b *testing.B) {
	path, sum := benchPlugin(b)
	for _, mode := range benchModes {
		b.Run(string(mode), func(b *testing.B) {
			if _, err := sandbox.Probe().Plan(mode); err != nil {
				b.Skip(err)
			}
			for range b.N {
				h, err := NewHost([]Spec{{Kind: "test", Path: path, SHA256: sum, Sandbox: mode,
					Connections: []Connection{{ID: "c1", Settings: json.RawMessage(`{}`)}}}}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				h.Start()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				err = h.WaitReady(ctx)
				cancel()
				b.StopTimer()
				h.Close()
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPluginCall: one Read on the data plane of a running plugin.
func BenchmarkPluginCall(b *testing.B) {
	path, sum := benchPlugin(b)
	for _, mode := range benchModes {
		b.Run(string(mode), func(b *testing.B) {
			if _, err := sandbox.Probe().Plan(mode); err != nil {
				b.Skip(err)
			}
			h, err := NewHost([]Spec{{Kind: "test", Path: path, SHA256: sum, Sandbox: mode,
				Connections: []Connection{{ID: "c1", Settings: json.RawMessage(`{}`)}}}}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			h.Start()
			defer h.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := h.WaitReady(ctx); err != nil {
				b.Fatal(err)
			}
			c, _ := h.Connector("test")
			req := &connectors.ReadRequest{ConnectionID: "c1", Resource: unified.Patients, ID: "ok"}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Read(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
