package connectors_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The SDK is a module third parties import to write connectors. What it
// links ends up in their plugin binaries, which run untrusted and must not
// hold the host's machinery, so its dependencies are an allowlist, and the
// host's are banned by name with the reason.

// forbidden are module or package prefixes the SDK must never depend on.
var forbidden = []struct{ prefix, why string }{
	{"github.com/ferryhealth/ferry/proxy", "the host's server, credentials and transport"},
	{"github.com/ferryhealth/ferry/plugins", "the host's plugin supervisor"},
	{"github.com/ferryhealth/ferry/auditlog", "the host's audit trail"},
	{"github.com/ferryhealth/ferry/residency", "the host's region rules"},
	{"github.com/ferryhealth/ferry/cmd", "the host's binaries"},
	{"github.com/ferryhealth/ferry/internal", "the host's test peers"},
	{"github.com/valyala/fasthttp", "the host's HTTP server and client"},
	{"github.com/aws/", "the host's secrets and audit sinks (AWS SDK)"},
	{"github.com/prometheus/", "the host's metrics"},
	{"database/sql", "storage: Ferry stores no PHI"},
	{"go.etcd.io/bbolt", "storage: Ferry stores no PHI"},
	{"github.com/redis/", "storage: Ferry stores no PHI"},
}

// allowed are the module prefixes the SDK may depend on. A new one is a
// deliberate decision: it lands in every third-party plugin.
var allowed = []string{
	"github.com/ferryhealth/ferry/connectors", // itself
	"github.com/ferryhealth/ferry/unified",    // the unified types, stdlib only
	"github.com/hashicorp/go-plugin",          // the plugin protocol
	"github.com/hashicorp/go-hclog",           // go-plugin's logger
	"github.com/hashicorp/yamux",              // go-plugin's multiplexer
	"github.com/oklog/run",                    // go-plugin
	"github.com/fatih/color",                  // go-hclog
	"github.com/mattn/go-colorable",           // go-hclog
	"github.com/mattn/go-isatty",              // go-hclog
	"google.golang.org/grpc",                  // the wire
	"google.golang.org/protobuf",              // the wire
	"google.golang.org/genproto",              // grpc
	"github.com/golang/protobuf",              // grpc's legacy API
	"golang.org/x/net",                        // grpc's HTTP/2
	"golang.org/x/sys",                        // grpc, go-plugin
	"golang.org/x/text",                       // x/net
	"github.com/goccy/go-json",                // the FHIR connector's fast decoder
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v: %s", args, msg)
	}
	var pkgs []string
	for _, line := range strings.Split(string(out), "\n") {
		// Test variants read "p [q.test]"; test mains "q.test"; external
		// test packages "q_test": all are q's.
		p, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		p = strings.TrimSuffix(strings.TrimSuffix(p, ".test"), "_test")
		if p != "" {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

func hasPrefix(s, prefix string) bool {
	return s == prefix || strings.HasPrefix(s, strings.TrimSuffix(prefix, "/")+"/")
}

// TestSDKDependencies lists every package the SDK's packages and their
// tests link (go list -deps -test) and fails on the host's packages, on
// anything else not allowed, and on the host module in the SDK's module
// graph (go list -m all).
func TestSDKDependencies(t *testing.T) {
	deps := goList(t, "-deps", "-test", "-f", `{{if not .Standard}}{{.ImportPath}}{{end}}`, "./...")
	if len(deps) == 0 {
		t.Fatal("go list found no dependencies at all")
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if hasPrefix(d, f.prefix) {
				t.Errorf("the SDK links %s: that is %s, which must never reach a plugin", d, f.why)
			}
		}
		ok := false
		for _, a := range allowed {
			if hasPrefix(d, a) {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("the SDK links %s, which is not in its allowlist (connectors/deps_test.go): every dependency reaches every third-party plugin", d)
		}
	}
	for _, m := range goList(t, "-m", "-f", "{{.Path}}", "all") {
		if m == "github.com/ferryhealth/ferry" {
			t.Errorf("the SDK's module graph holds the host module %s: the SDK must build without it", m)
		}
	}
}
