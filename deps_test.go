package ferry_test

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The import rules of docs/design.md ("Packages and import direction"),
// enforced. Each rule says why.
const module = "github.com/ferryhealth/ferry"

// modules are the repo's Go modules, by directory: the host (this one), the
// connector SDK, the unified types, and deploy (the image and Helm chart tests,
// whose Kubernetes and Helm dependencies stay out of the host). The SDK and unified are modules of
// their own so that a third party imports them without pulling the host;
// this module requires them through replace directives.
var modules = []string{".", "connectors", "unified", "deploy"}

type importRule struct {
	pkg    string   // package prefix the rule applies to
	forbid []string // package prefixes it may not depend on
	// allow are exceptions: packages under a forbidden prefix it may
	// depend on.
	allow []string
	// direct checks what the package imports itself (its arrows) rather
	// than everything it links: the rooms of proxy say which rooms they
	// reach, and each of those has a rule of its own.
	direct bool
	why    string
}

var importRules = []importRule{
	{pkg: "/unified", forbid: []string{"/"}, why: "unified is a leaf: connector authors import it without pulling anything of Ferry's"},
	{pkg: "/residency", forbid: []string{"/"}, why: "residency is a leaf: region rules must not depend on request handling"},
	{pkg: "/internal/clock", forbid: []string{"/"}, why: "the clock is a leaf every package may read its time from"},
	{pkg: "/auditlog", forbid: []string{"/unified", "/connectors", "/plugins", "/proxy"}, why: "audit events have a fixed schema with no PHI: the package must not be able to see unified records or connector data"},
	{pkg: "/connectors", forbid: []string{"/proxy", "/plugins", "/auditlog", "/residency", "/cmd", "/bench", "/internal"}, why: "connectors is the SDK module third parties import, and runs inside untrusted plugin processes: it must not link the host's credentials, audit, config or process supervision"},
	{pkg: "/plugins", forbid: []string{"/proxy", "/auditlog", "/cmd", "/bench"}, why: "the plugin host knows processes and the wire protocol, not requests or tenants"},
	{pkg: "/proxy", forbid: []string{"/cmd", "/bench"}, why: "binaries and benchmarks depend on the proxy, never the reverse"},
	{pkg: "/proxy", forbid: []string{"/plugins"}, why: "the proxy reaches connectors through its Connectors interface, whatever serves them: the plugin host is wired in by cmd/ferry, and a plugin that is down is told by the SDK's connectors.ErrPluginUnavailable"},
	// The rooms of proxy (docs/design.md): the pipeline (proxy itself)
	// reaches down into the verdict, the source call and the guard, in
	// that order, and nothing reaches back up.
	{pkg: "/proxy/guard", direct: true, forbid: []string{"/proxy", "/connectors", "/auditlog"}, allow: []string{"/proxy/config"},
		why: "the guard admits and settles from numbers: it sees no request, no source, no connector and no audit event, so it is tested alone, by table"},
	{pkg: "/proxy/source", direct: true, forbid: []string{"/proxy", "/auditlog"},
		allow: []string{"/proxy/config", "/proxy/guard", "/proxy/mllp", "/proxy/outauth", "/proxy/secrets", "/proxy/tracing"},
		why:   "the source call knows its connection, its credentials, its guard and its trace span: never the pipeline, the verdict or the audit trail"},
	{pkg: "/proxy/tracing", direct: true, forbid: []string{"/"}, allow: []string{"/proxy/config"},
		why: "tracing knows spans, the trace context and its own config: it sees no request, record or audit event, so no PHI can reach a span through it"},
	{pkg: "/proxy/webhook", direct: true, forbid: []string{"/proxy", "/auditlog", "/connectors"}, allow: []string{"/proxy/config", "/proxy/secrets", "/proxy/source"},
		why: "webhook delivery signs and sends bytes it is given: it never sees a connector, and the feed audits its attempts"},
	{pkg: "/proxy/feed", direct: true, forbid: []string{"/proxy"}, allow: []string{"/proxy/config", "/proxy/mllp", "/proxy/webhook", "/proxy/secrets"},
		why: "a feed is a room of its own: its listener, the sender's rules and the ACK; it reaches connectors and webhooks through their own packages, not the request pipeline"},
	{pkg: "/proxy/identity", direct: true, forbid: []string{"/proxy", "/connectors", "/auditlog", "/unified"}, allow: []string{"/proxy/config"},
		why: "token validation says who is asking from a token and the config alone: no request, record or audit event"},
	{pkg: "/proxy/authz", direct: true, forbid: []string{"/proxy", "/connectors", "/auditlog"},
		why: "authorization decisions are pure: scopes, compartments and policies in, a decision out; the pipeline forces them"},
	{pkg: "/proxy/pseudonym", direct: true, forbid: []string{"/"},
		why: "pseudonyms are sealed from keys and values alone: no config, request or audit event"},
	{pkg: "/proxy/verdict", direct: true, forbid: []string{"/proxy", "/auditlog"}, allow: []string{"/proxy/guard", "/proxy/source"},
		why: "the verdict is a pure function of an error and of what the source call recorded: it reads the rooms below it, never the pipeline"},
}

// testKits are the SDK's test helpers. They import package testing and start
// processes, so no connector's production code (what ends up in a plugin
// binary) may import them, nor the gateway's; tests may. The exceptions
// (kitUsers) are the ferry command itself, whose `ferry plugin check` is the
// kit, and the host's two test programs that run the kit's escape attempts
// (connectors/conformance/escape) inside the sandbox: the hostile test
// plugin and the sandbox's probe, built by tests and never shipped.
var (
	testKits = []string{"/connectors/sdktest", "/connectors/conformance"}
	kitUsers = []string{"/cmd/ferry", "/plugins/internal/testplugin", "/plugins/sandbox/internal/probe"}
)

// storagePackages are banned from every binary: Ferry stores no PHI, so it
// has no business linking a database or an embedded store.
var storagePackages = []string{
	"database/sql", "go.etcd.io/bbolt", "github.com/boltdb/bolt", "github.com/dgraph-io/badger",
	"github.com/syndtr/goleveldb", "github.com/cockroachdb/pebble", "modernc.org/sqlite",
	"github.com/mattn/go-sqlite3", "github.com/redis/go-redis", "github.com/go-redis/redis",
}

// goList runs go list in a module's directory.
func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v (in %s): %s", args, dir, msg)
	}
	return strings.Fields(string(out))
}

// under reports whether rel (a path inside the repo's import space, "/x/y")
// is prefix or below it.
func under(rel, prefix string) bool {
	return prefix == "/" || rel == prefix || strings.HasPrefix(rel, prefix+"/")
}

func TestImportDirection(t *testing.T) {
	for _, dir := range modules {
		for _, pkg := range goList(t, dir, "./...") {
			rel := strings.TrimPrefix(pkg, module)
			deps := goList(t, dir, "-f", `{{join .Deps " "}}`, pkg)
			imports := goList(t, dir, "-f", `{{join .Imports " "}}`, pkg)
			for _, r := range importRules {
				if !under(rel, r.pkg) {
					continue
				}
				checked := deps
				if r.direct {
					checked = imports
				}
				for _, d := range checked {
					if !strings.HasPrefix(d, module+"/") {
						continue
					}
					drel := strings.TrimPrefix(d, module)
					// "/" forbids every package of the repo; "/x" forbids
					// x and its sub-packages, except the rule's own tree.
					if under(drel, r.pkg) || slices.ContainsFunc(r.allow, func(a string) bool { return under(drel, a) }) {
						continue
					}
					for _, f := range r.forbid {
						if under(drel, f) {
							t.Errorf("%s imports %s: %s", rel, drel, r.why)
						}
					}
				}
			}
			if slices.ContainsFunc(testKits, func(k string) bool { return under(rel, k) }) || slices.Contains(kitUsers, rel) {
				continue
			}
			for _, d := range deps {
				for _, k := range testKits {
					if under(strings.TrimPrefix(d, module), k) {
						t.Errorf("%s imports %s: the SDK's test kits are for tests, never for code that ships in a binary", rel, d)
					}
				}
			}
		}
	}
}

func TestNoStorageInBinaries(t *testing.T) {
	for _, main := range goList(t, ".", "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./cmd/...") {
		for _, d := range goList(t, ".", "-f", `{{join .Deps " "}}`, main) {
			for _, s := range storagePackages {
				if (d == s || strings.HasPrefix(d, s+"/")) && !interfaceOnly(t, main, d) {
					t.Errorf("%s links %s: Ferry stores no PHI and links no storage", main, d)
				}
			}
		}
	}
}

// storageInterfaces are storage packages that hold only interfaces, and
// the one importer each may have: database/sql/driver's Valuer is what
// github.com/google/uuid implements (the OpenTelemetry SDK's resource
// uses it for instance ids). Any other importer, or database/sql itself,
// still fails.
var storageInterfaces = map[string]string{"database/sql/driver": "github.com/google/uuid"}

// interfaceOnly says d is a storage interface package that main links only
// through its one allowed importer.
func interfaceOnly(t *testing.T, main, d string) bool {
	allowed, ok := storageInterfaces[d]
	if !ok {
		return false
	}
	// One token per package (goList splits on spaces): path=import,import.
	for _, tok := range goList(t, ".", "-deps", "-f", `{{.ImportPath}}={{join .Imports ","}}`, main) {
		pkg, imports, _ := strings.Cut(tok, "=")
		if slices.Contains(strings.Split(imports, ","), d) && pkg != allowed {
			return false
		}
	}
	return true
}

// TestPackageDocs: every package says what it is for, in one place.
func TestPackageDocs(t *testing.T) {
	for _, dir := range modules {
		for _, line := range goList(t, dir, "-f", `{{.ImportPath}}|{{if .Doc}}ok{{end}}`, "./...") {
			pkg, doc, _ := strings.Cut(line, "|")
			if strings.HasSuffix(pkg, "/connectorv2") { // generated
				continue
			}
			if doc == "" {
				t.Errorf("%s has no package doc (add doc.go)", pkg)
			}
		}
	}
}

// TestEveryModuleIsTested: `make test` (what CI runs) loops over the
// Makefile's MODULES, and `go test ./...` never crosses into a nested
// module, so a go.mod missing from that list would be a module nobody
// tests. The list here and the Makefile's must both name every go.mod.
func TestEveryModuleIsTested(t *testing.T) {
	var found []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			found = append(found, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	want := slices.Sorted(slices.Values(modules))
	if !slices.Equal(found, want) {
		t.Errorf("go.mod files in %v, deps_test.go lists %v", found, want)
	}
	mk, err := os.Open("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	defer mk.Close()
	var listed []string
	for sc := bufio.NewScanner(mk); sc.Scan(); {
		if rest, ok := strings.CutPrefix(sc.Text(), "MODULES :="); ok {
			listed = strings.Fields(rest)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Errorf("go.mod files in %v, the Makefile's MODULES lists %v: make test would skip a module", found, listed)
	}
}
