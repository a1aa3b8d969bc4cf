package ferry_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Docs and comments point only at files in the repository: a newcomer
// reading a clone has nothing else. These find the references.
var (
	// mdMention is a document named in prose or a comment: "docs/audit.md",
	// "README.md".
	mdMention = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])((?:\.\.?/)*[A-Za-z0-9_-][A-Za-z0-9_./-]*\.md)\b`)
	// mdLink is the target of a Markdown link: [text](target).
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// TestReferencesResolve fails on a reference, in a Go file or a Markdown
// document, to a document that is not in the repository, and on a relative
// Markdown link to a path that does not exist.
func TestReferencesResolve(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Dependencies, measurement output, and the clinical test data
			// (copied with its own licences and READMEs) are not ours.
			if d.Name() == "node_modules" || d.Name() == ".git" || path == "bench/results" ||
				filepath.Dir(path) == "testdata" && d.Name() != "peers" && d.Name() != "canary" {
				return filepath.SkipDir
			}
			return nil
		}
		isMD, isGo := strings.HasSuffix(path, ".md"), strings.HasSuffix(path, ".go")
		if !isMD && !isGo {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(src)
		if isGo {
			text = goComments(text)
		}
		for _, m := range mdMention.FindAllStringSubmatch(text, -1) {
			checked++
			if !resolves(path, m[1]) {
				t.Errorf("%s refers to %s, which is not in the repository", path, m[1])
			}
		}
		if isMD {
			for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				target, _, _ = strings.Cut(target, "#")
				checked++
				if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
					t.Errorf("%s links to %s, which does not exist", path, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d references checked: the patterns no longer find them", checked)
	}
}

// resolves reports whether a document named in file exists, relative to
// the file's directory or to the repository's root (where prose usually
// names docs from: "docs/audit.md").
func resolves(file, name string) bool {
	for _, p := range []string{filepath.Join(filepath.Dir(file), name), name} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	// A bare name ("README.md") may mean any of the repository's READMEs.
	if !strings.Contains(name, "/") {
		found := false
		_ = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || found || d.IsDir() && d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			found = !d.IsDir() && d.Name() == name
			return nil
		})
		return found
	}
	return false
}

// goComments returns the comment text of Go source: string literals may
// name files that tests create, which are not references.
func goComments(src string) string {
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if i := strings.Index(line, "//"); i >= 0 && !strings.Contains(line[:i], `"`) {
			b.WriteString(line[i:])
			b.WriteByte('\n')
		}
	}
	return b.String()
}
