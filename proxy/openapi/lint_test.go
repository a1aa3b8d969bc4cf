package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// lintDir holds the pinned npm linters (package-lock.json); `make test-deps`
// installs them.
const lintDir = "../../testdata/peers/openapi-lint"

// TestOpenAPILint holds the committed document to two linters nobody here
// wrote: the OpenAPI 3.1 JSON schema (@seriousme/openapi-schema-validator)
// and Redocly's recommended rules (@redocly/cli), with no error and no
// warning, so it stays clean as operations are added.
//
// Alone: make test-deps && go test -run TestOpenAPILint -v ./proxy/openapi
func TestOpenAPILint(t *testing.T) {
	doc, err := filepath.Abs(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	bin := func(name string) string {
		p := filepath.Join(lintDir, "node_modules", ".bin", name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the OpenAPI linters are not installed (%v): run `make test-deps`", err)
		}
		return p
	}

	t.Run("schema", func(t *testing.T) {
		out := runLinter(t, bin("validate-api"), doc)
		var res struct {
			Valid  bool            `json:"valid"`
			Errors json.RawMessage `json:"errors"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("validate-api printed %q: %v", out, err)
		}
		if !res.Valid {
			t.Errorf("docs/openapi.json is not valid OpenAPI 3.1: %s", res.Errors)
		}
	})

	t.Run("redocly", func(t *testing.T) {
		out := runLinter(t, bin("redocly"), "lint", "--format=json", doc)
		var res struct {
			Totals struct {
				Errors, Warnings int
			} `json:"totals"`
			Problems []struct {
				RuleID   string `json:"ruleId"`
				Severity string `json:"severity"`
				Message  string `json:"message"`
				Location []struct {
					Pointer string `json:"pointer"`
				} `json:"location"`
			} `json:"problems"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("redocly printed %q: %v", out, err)
		}
		for _, p := range res.Problems {
			where := ""
			if len(p.Location) > 0 {
				where = p.Location[0].Pointer
			}
			t.Errorf("redocly %s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
		}
		if res.Totals.Errors+res.Totals.Warnings != len(res.Problems) {
			t.Errorf("redocly totals %+v disagree with its %d problems", res.Totals, len(res.Problems))
		}
	})
}

// runLinter runs a linter CLI offline and returns its stdout, whatever its
// exit status (both print their findings and exit non-zero on them).
func runLinter(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{name}, args...)...)
	// No telemetry, no update check: the machine has no internet.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil && stdout.Len() == 0 {
		t.Fatalf("%s: %v\n%s", filepath.Base(name), err, stderr.Bytes())
	}
	return stdout.Bytes()
}
