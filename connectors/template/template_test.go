package template

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors/conformance"
	"github.com/ferryhealth/ferry/connectors/sdktest"
)

// TestGeneratedConnectorBuildsAndConforms writes a connector from the
// template into a scratch directory outside the repo, with a replace to this
// checkout's SDK, builds it and runs its own tests offline (GOPROXY=off:
// the go.mod and go.sum must be complete), then runs the conformance kit on
// the binary. Run it alone with go test -run TestGenerated ./template in
// connectors/.
func TestGeneratedConnectorBuildsAndConforms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and runs a plugin")
	}
	dir := filepath.Join(t.TempDir(), "ferry-connector-acme-ehr")
	written, err := Write(dir, Params{Name: "acme-ehr", Module: "example.com/acme/ferry-connector-acme-ehr", SDK: ".."})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go.mod", "go.sum", "main.go", "manifest.go", "patient.go", "patient_test.go", "README.md", "testdata/upstream.txtar"} {
		if !contains(written, want) {
			t.Errorf("%s not written (wrote %v)", want, written)
		}
	}
	mod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	sdk, _ := filepath.Abs("..")
	if !strings.Contains(string(mod), "module example.com/acme/ferry-connector-acme-ehr\n") ||
		!strings.Contains(string(mod), "replace github.com/ferryhealth/ferry/connectors => "+sdk+"\n") {
		t.Fatalf("go.mod:\n%s", mod)
	}
	if main, _ := os.ReadFile(filepath.Join(dir, "connector.go")); !strings.Contains(string(main), `const Kind = "acme-ehr"`) || strings.Contains(string(main), placeholder) {
		t.Fatal("the kind was not replaced")
	}

	env := append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=readonly")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	run("vet", "./...")
	// Its golden and in-process tests; its own conformance test is the
	// run below, so -short skips it here.
	run("test", "-short", "-count=1", "./...")
	bin := filepath.Join(dir, "ferry-connector-acme-ehr")
	run("build", "-o", bin, ".")

	replay, err := sdktest.Replay(filepath.Join(dir, "testdata", "upstream.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := conformance.Check(context.Background(), conformance.Options{
		Binary: bin, Kind: "acme-ehr", Upstream: replay,
		Margin: 5 * time.Second, // other tests share the CPUs
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Write(&b)
	t.Logf("conformance of the generated connector:\n%s", b.String())
	for _, r := range rep.Results {
		// The SDK has no sandbox to give the kit; cmd/ferry's
		// TestPluginInitThenCheck runs this connector in the host's. The
		// template only reads (its README says how to write).
		if r.Status != conformance.Pass && r.Name != "sandbox" && (r.Name != "writes" || r.Status != conformance.Skip) {
			t.Errorf("%s: %s", r.Name, r.Status)
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	if _, err := Write(t.TempDir(), Params{Name: "Bad_Name"}); err == nil {
		t.Error("bad name accepted")
	}
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	if _, err := Write(full, Params{Name: "ok"}); err == nil {
		t.Error("non-empty directory accepted")
	}
	if _, err := Write(filepath.Join(t.TempDir(), "n"), Params{Name: "ok", SDK: t.TempDir()}); err == nil {
		t.Error("a folder that is not a checkout accepted as the SDK")
	}
	// From the repo root works as well as from connectors/.
	if _, err := Write(filepath.Join(t.TempDir(), "n"), Params{Name: "ok", SDK: "../.."}); err != nil {
		t.Errorf("repo root as SDK: %v", err)
	}
	written, err := Write(filepath.Join(t.TempDir(), "n"), Params{Name: "ok"})
	if err != nil || contains(written, "go.sum") {
		t.Errorf("without an SDK: %v %v", written, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
