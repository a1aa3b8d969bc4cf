package ferry_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A test that finds a program missing on a fresh machine fails CI for every
// submission after it, and a green run on a machine with leftovers hides it
// (nginx did exactly that). So every program the Go code looks for or runs
// is listed here with where it comes from, and the list is held to what
// `make test` installs.

// tool says where one external program comes from.
type tool struct {
	// debian is the Debian package that provides it; it must be in the
	// Makefile's DEBIAN_PEERS, which `make test` installs when missing.
	debian string
	// essential is a Debian package every Debian system has (Essential:
	// yes, checked with dpkg-query), so nothing needs to install it.
	essential string
	// base says why the program is on every machine without an install
	// step (the toolchain the tests run under, the image's preinstalls).
	base string
}

var tools = map[string]tool{
	"nginx":    {debian: "nginx"},   // the bench harness's baseline, run by `make test` in TestQuickRun
	"rsyslogd": {debian: "rsyslog"}, // the syslog audit sink's peer
	"strace":   {debian: "strace"},  // the PHI canary's no-file-written check
	"buildah":  {debian: "buildah"}, // builds the container image in deploy/'s image test
	"podman":   {debian: "podman"},  // runs it there (with Debian's runc, named by flag, not run by Go)
	// /usr/bin/python3 with python-hl7: the MLLP peer. Debian's python3
	// comes with python3-hl7 (the pyenv python on PATH has no hl7).
	"python3":               {debian: "python3-hl7"},
	"setpriv":               {essential: "util-linux"},
	"taskset":               {essential: "util-linux"},
	"true":                  {essential: "coreutils"},
	"sh":                    {essential: "dash"},
	"dpkg-query":            {essential: "dpkg"}, // this test's own check
	"go":                    {base: "the toolchain that runs the tests"},
	"make":                  {base: "`make test` is what runs the tests; deploy/'s image test runs `make image`"},
	"git":                   {base: "CI tests a git clone; the image test compares the image's revision label with HEAD"},
	"node":                  {base: "Node.js 20 is on every machine of this kind; npm packages come from the lockfiles under testdata/peers"},
	"moto_server":           {base: "preinstalled in the image's Python 3.11; PyPI is unreachable here, so a test that needs it fails with a clear message"},
	"ferry":                 {base: "built by `make build` (and into the image); deploy/'s tests name it by its path inside the image"},
	"ferry-connector-fhir":  {base: "built by `make build` (and into the image); a path in the chart's plugin catalog"},
	"ferry-connector-hl7v2": {base: "built by `make build` (and into the image); a path in the chart's plugin catalog"},
	"perf":                  {base: "only `ferry-bench -profile` runs it, never a test; the harness says how to install it when missing"},
}

// programPatterns find the programs Go code runs or looks for by name.
var programPatterns = []*regexp.Regexp{
	regexp.MustCompile(`LookPath\("([^"]+)"\)`),
	regexp.MustCompile(`exec\.Command(?:Context)?\((?:ctx, )?"([^"]+)"`),
	regexp.MustCompile(`"(/usr(?:/local)?/s?bin/[A-Za-z0-9_.+-]+)"`),
}

// TestEveryProgramIsInstalled fails when Go code in the repository runs a
// program that neither `make test` installs nor every machine has.
func TestEveryProgramIsInstalled(t *testing.T) {
	peers := makefileList(t, "DEBIAN_PEERS")
	if len(peers) == 0 {
		t.Fatal("no DEBIAN_PEERS in the Makefile")
	}
	found := map[string]string{} // program → first file using it
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || strings.HasPrefix(d.Name(), ".tools")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range programPatterns {
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				name := filepath.Base(m[1])
				if _, ok := found[name]; !ok {
					found[name] = path
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"nginx", "rsyslogd", "go"} {
		if _, ok := found[must]; !ok {
			t.Fatalf("the scan did not find %s, which the tests run: the patterns no longer match the code", must)
		}
	}
	for name, file := range found {
		tl, ok := tools[name]
		switch {
		case !ok:
			t.Errorf("%s runs %q, which is not in tools_test.go's tools: add it with the Debian package that provides it, and that package to the Makefile's DEBIAN_PEERS", file, name)
		case tl.debian != "" && !slices.Contains(peers, tl.debian):
			t.Errorf("%s runs %q from Debian's %s, which the Makefile's DEBIAN_PEERS does not install: a fresh machine fails", file, name, tl.debian)
		case tl.essential != "":
			checkEssential(t, name, tl.essential)
		case tl.debian == "" && tl.base == "":
			t.Errorf("tools[%q] says nowhere where the program comes from", name)
		}
	}
}

// checkEssential confirms pkg is an Essential Debian package, on a system
// with dpkg.
func checkEssential(t *testing.T, program, pkg string) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return // not Debian: nothing to confirm against
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${Essential}", pkg).Output()
	if err != nil || strings.TrimSpace(string(out)) != "yes" {
		t.Errorf("%q is counted as coming with the essential package %s, which dpkg-query does not confirm (%q, %v)", program, pkg, out, err)
	}
}

// makefileList returns the words of a `NAME := …` line of the Makefile.
func makefileList(t *testing.T, name string) []string {
	t.Helper()
	src, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:?=\s*(.*)$`)
	m := re.FindSubmatch(src)
	if m == nil {
		return nil
	}
	return strings.Fields(string(m[1]))
}
