package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
)

// These tests start real plugin processes: ferry-connector-fhir, the
// conformance kit's deliberately broken plugins (built from the SDK module's
// testdata) and a connector generated from the template. Run them alone with
// go test -run TestPlugin ./cmd/ferry.

func ferryPlugin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"plugin"}, args...), &out, &errOut)
	return code, out.String() + errOut.String()
}

// TestPluginCheckFHIR: the built-in FHIR plugin passes every check,
// including the production host starting it and the host's kernel sandbox
// (it works unchanged inside, and an escape probe in it fails).
func TestPluginCheckFHIR(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(binaries(t), "ferry-connector-fhir")
	// A wide margin: other tests share the CPUs.
	code, out := ferryPlugin(t, "check", bin, "--kind", "fhir", "--margin", "5s")
	t.Logf("%s", out)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "PASS  host") || !strings.Contains(out, "PASS  network") ||
		!strings.Contains(out, "PASS  sandbox") {
		t.Fatalf("exit %d", code)
	}
}

// TestPluginCheckHL7v2: the built-in HL7 v2 plugin fails nothing; its
// queries go through the message Transport (Exchange), which the kit
// feeds malformed, empty and huge answers, errors and a silent source.
func TestPluginCheckHL7v2(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(binaries(t), "ferry-connector-hl7v2")
	code, out := ferryPlugin(t, "check", bin, "--kind", "hl7v2", "--margin", "5s")
	t.Logf("%s", out)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "PASS  exchange") ||
		!strings.Contains(out, "PASS  host") || !strings.Contains(out, "PASS  network") || !strings.Contains(out, "PASS  sandbox") {
		t.Fatalf("exit %d", code)
	}
}

// buildKitPlugin builds one of the SDK's deliberately broken test plugins.
func buildKitPlugin(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./conformance/testdata/plugins/"+name)
	cmd.Dir = filepath.Join("..", "..", "connectors")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// TestPluginCheckBroken: each broken plugin fails, exit 1, with a reason
// that names its fault.
func TestPluginCheckBroken(t *testing.T) {
	for _, c := range []struct {
		plugin string
		want   []string
	}{
		{"badversion", []string{"FAIL  handshake", fmt.Sprintf("the plugin speaks connector protocol v%d; this host speaks v%d", connectors.ProtocolVersion+1, connectors.ProtocolVersion)}},
		{"panicky", []string{"FAIL  malformed_upstream", "read patients: a panic", "want upstream"}},
		{"dialer", []string{"FAIL  network", "req.Transport"}},
	} {
		t.Run(c.plugin, func(t *testing.T) {
			t.Parallel()
			code, out := ferryPlugin(t, "check", buildKitPlugin(t, c.plugin))
			t.Logf("%s", out)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}

// TestPluginInitThenCheck: `ferry plugin init` writes a connector into a
// scratch directory outside the repo; it builds offline against this
// checkout's SDK and passes `ferry plugin check`.
func TestPluginInitThenCheck(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "acme")
	code, out := ferryPlugin(t, "init", "acme", dir, "--sdk", repo)
	if code != 0 || !strings.Contains(out, "patient.go") {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	bin := filepath.Join(dir, "ferry-connector-acme")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the generated connector: %v\n%s", err, out)
	}
	code, out = ferryPlugin(t, "check", bin, "--kind", "acme", "--margin", "5s", "--recordings", filepath.Join(dir, "testdata", "upstream.txtar"))
	t.Logf("%s", out)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "PASS  records") {
		t.Fatalf("check: exit %d", code)
	}
	if code, _ := ferryPlugin(t, "init", "acme", dir); code == 0 {
		t.Fatal("init over a non-empty directory succeeded")
	}
}

func TestPluginUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"check"}, {"check", "a", "b"}, {"init"}, {"frobnicate"}, {"check", "x", "--settings", "{"}} {
		if code, _ := ferryPlugin(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
