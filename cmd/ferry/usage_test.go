package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestUsageListsEveryCommand reads the commands `run` dispatches on from
// main.go's source, so a command added to the switch and forgotten in the
// usage text fails here. It also holds the top-level text to every
// subcommand the groups' own usage texts name (ferry audit verify|hash|pubkey,
// ferry plugin check|init).
func TestUsageListsEveryCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(nil, &stdout, &stderr); code != 2 {
		t.Fatalf("ferry with no arguments: exit %d, want 2", code)
	}
	bare := stderr.String()
	stdout.Reset()
	if code := run([]string{"help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("ferry help: exit %d, want 0", code)
	}
	if stdout.String() != bare {
		t.Errorf("ferry help and ferry with no arguments print different texts")
	}

	cmds := dispatchedCommands(t)
	if len(cmds) < 6 {
		t.Fatalf("found only %v in run's switch: the test no longer reads main.go right", cmds)
	}
	for _, c := range cmds {
		if strings.HasPrefix(c, "-") {
			continue // --help, --version: spellings of listed commands
		}
		if !strings.Contains(bare, "  ferry "+c) {
			t.Errorf("run dispatches %q but the usage text does not list `ferry %s`", c, c)
		}
	}
	for group, text := range map[string]string{"audit": auditUsage, "plugin": pluginUsage} {
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "ferry" || f[1] != group {
				continue
			}
			if want := "ferry " + group + " " + f[2]; !strings.Contains(bare, want) {
				t.Errorf("`%s` is in `ferry %s help` but not in the top-level usage", want, group)
			}
		}
	}
}

// dispatchedCommands returns the string cases of the switch in run.
func dispatchedCommands(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "run" {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			cc, ok := n.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, e := range cc.List {
				if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
			return true
		})
		return false
	})
	return out
}
