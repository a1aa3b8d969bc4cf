package ferry_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// maxFileLines is the most lines a hand-written Go file (tests aside) may
// have: a file is read whole by whoever changes it, and past this size it
// holds more than one job, which a file of its own would name.
const maxFileLines = 500

// longFiles may be longer, each for its reason.
var longFiles = map[string]string{
	"proxy/config/strictjson/strictjson.go": "the strict JSON decoder is one fuzzed state machine; split, its states would be read apart",
	"unified/resources.go":                  "the unified resource types, the API's schema, read as one document",
}

// generated is Go's mark of a generated file (go help generate).
var generated = regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`)

// TestFileLength fails on a hand-written, non-test Go file over
// maxFileLines lines, in any module of the repository.
func TestFileLength(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if _, ok := longFiles[filepath.ToSlash(path)]; ok {
			return nil
		}
		n, gen, err := goFileLines(path)
		if err != nil {
			return err
		}
		if !gen && n > maxFileLines {
			t.Errorf("%s has %d lines, over %d: split it by job (or, for a reason, list it in longFiles)", path, n, maxFileLines)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path := range longFiles {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("longFiles names %s: %v", path, err)
		}
	}
}

// goFileLines counts a Go file's lines and reports whether it is marked
// generated (the mark comes before the package clause).
func goFileLines(path string) (lines int, gen bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	inHeader := true
	for sc.Scan() {
		lines++
		line := sc.Text()
		if inHeader && strings.HasPrefix(line, "package ") {
			inHeader = false
		}
		if inHeader && generated.MatchString(line) {
			gen = true
		}
	}
	return lines, gen, sc.Err()
}
