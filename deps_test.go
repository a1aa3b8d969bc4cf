package ferry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The import rules of DESIGN.md §2, enforced. Each rule says why.
const module = "github.com/ferryhealth/ferry"

type importRule struct {
	pkg    string // package prefix the rule applies to
	forbid []string
	why    string
}

var importRules = []importRule{
	{"/unified", []string{"/"}, "unified is a leaf: connector authors import it without pulling anything of Ferry's"},
	{"/residency", []string{"/"}, "residency is a leaf: region rules must not depend on request handling"},
	{"/auditlog", []string{"/unified", "/connectors", "/plugins", "/proxy"}, "audit events have a fixed schema with no PHI: the package must not be able to see unified records or connector data"},
	{"/connectors", []string{"/proxy", "/auditlog", "/residency", "/cmd", "/bench"}, "connectors run inside untrusted plugin processes: they must not link the host's credentials, audit or config code"},
	{"/plugins", []string{"/proxy", "/auditlog", "/cmd", "/bench"}, "the plugin host knows processes and the wire protocol, not requests or tenants"},
	{"/proxy", []string{"/cmd", "/bench"}, "binaries and benchmarks depend on the proxy, never the reverse"},
}

// storagePackages are banned from every binary: Ferry stores no PHI, so it
// has no business linking a database or an embedded store.
var storagePackages = []string{
	"database/sql", "go.etcd.io/bbolt", "github.com/boltdb/bolt", "github.com/dgraph-io/badger",
	"github.com/syndtr/goleveldb", "github.com/cockroachdb/pebble", "modernc.org/sqlite",
	"github.com/mattn/go-sqlite3", "github.com/redis/go-redis", "github.com/go-redis/redis",
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func TestImportDirection(t *testing.T) {
	for _, pkg := range goList(t, "./...") {
		rel := strings.TrimPrefix(pkg, module)
		deps := goList(t, "-f", `{{join .Deps " "}}`, pkg)
		for _, r := range importRules {
			if rel != r.pkg && !strings.HasPrefix(rel, r.pkg+"/") {
				continue
			}
			for _, d := range deps {
				if !strings.HasPrefix(d, module+"/") {
					continue
				}
				drel := strings.TrimPrefix(d, module)
				for _, f := range r.forbid {
					// "/" forbids every package of the module; "/x" forbids
					// x and its sub-packages, except the rule's own tree.
					own := drel == r.pkg || strings.HasPrefix(drel, r.pkg+"/")
					if own {
						continue
					}
					if f == "/" || drel == f || strings.HasPrefix(drel, f+"/") {
						t.Errorf("%s imports %s: %s", rel, drel, r.why)
					}
				}
			}
		}
	}
}

func TestNoStorageInBinaries(t *testing.T) {
	for _, main := range goList(t, "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./cmd/...") {
		for _, d := range goList(t, "-f", `{{join .Deps " "}}`, main) {
			for _, s := range storagePackages {
				if d == s || strings.HasPrefix(d, s+"/") {
					t.Errorf("%s links %s: Ferry stores no PHI and links no storage", main, d)
				}
			}
		}
	}
}

// TestPackageDocs: every package says what it is for, in one place.
func TestPackageDocs(t *testing.T) {
	for _, line := range goList(t, "-f", `{{.ImportPath}}|{{if .Doc}}ok{{end}}`, "./...") {
		pkg, doc, _ := strings.Cut(line, "|")
		if strings.HasSuffix(pkg, "/connectorv1") { // generated
			continue
		}
		if doc == "" {
			t.Errorf("%s has no package doc (add doc.go)", pkg)
		}
	}
}
