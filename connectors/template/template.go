// Package template writes a new connector from the SDK's template: the folder
// `ferry plugin init NAME` creates, with main.go, the connector, its
// manifest, one mapping file with golden tests, recorded source answers, a
// conformance test, a README and a go.mod.
//
// The template is the Go package in files/, compiled and tested with the SDK
// itself, so it cannot rot: its connector kind is the placeholder
// "templatekind", which Write replaces with the new connector's name.
package template

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
)

//go:embed files
var files embed.FS

// placeholder is the connector kind in the template's files.
const placeholder = "templatekind"

const (
	sdkModule     = "github.com/ferryhealth/ferry/connectors"
	unifiedModule = "github.com/ferryhealth/ferry/unified"
	rootModule    = "github.com/ferryhealth/ferry"
)

// Params describe the connector to create.
type Params struct {
	// Name is the connector kind: 1-32 of [a-z0-9-], starting with a
	// letter. The plugin binary is ferry-connector-NAME.
	Name string
	// Module is the new Go module's path; default
	// example.com/ferry-connector-NAME.
	Module string
	// SDK is a local Ferry checkout, or its connectors/ folder. The go.mod
	// then replaces the SDK and unified modules with that checkout and
	// pins the SDK's own requirements, and the SDK's go.sum is copied, so
	// the connector builds at once, offline. Without it, the go.mod
	// requires published versions (none exist yet).
	SDK string
}

// Write creates the connector in dir, which must not exist or be empty, and
// returns the files written, relative to dir.
func Write(dir string, p Params) ([]string, error) {
	if !validName(p.Name) {
		return nil, fmt.Errorf("template: name %q: want 1-32 of [a-z0-9-], starting with a letter", p.Name)
	}
	if p.Module == "" {
		p.Module = "example.com/ferry-connector-" + p.Name
	}
	if strings.ContainsAny(p.Module, " \t\n\"'`") {
		return nil, fmt.Errorf("template: module path %q", p.Module)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("template: %s is not empty", dir)
	}
	mod := goMod{Module: p.Module, GoVersion: "1.26.0", SDKVersion: "v0.0.0"}
	var goSum []byte
	if p.SDK != "" {
		var err error
		if mod.SDKDir, mod.UnifiedDir, err = locateSDK(p.SDK); err != nil {
			return nil, err
		}
		reqs, goVersion, err := requirements(filepath.Join(mod.SDKDir, "go.mod"))
		if err != nil {
			return nil, err
		}
		mod.Indirect, mod.GoVersion = reqs, goVersion
		if goSum, err = os.ReadFile(filepath.Join(mod.SDKDir, "go.sum")); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
	}
	var written []string
	err := fs.WalkDir(files, "files", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("files", path)
		data, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		if rel == "go.mod.tmpl" {
			rel = "go.mod"
			var b bytes.Buffer
			if err := template.Must(template.New("go.mod").Parse(string(data))).Execute(&b, mod); err != nil {
				return err
			}
			data = b.Bytes()
		} else {
			data = bytes.ReplaceAll(data, []byte(placeholder), []byte(p.Name))
		}
		written = append(written, rel)
		return writeFile(filepath.Join(dir, rel), data)
	})
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if goSum != nil {
		written = append(written, "go.sum")
		if err := writeFile(filepath.Join(dir, "go.sum"), goSum); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
	}
	return written, nil
}

type goMod struct {
	Module, GoVersion, SDKVersion string
	SDKDir, UnifiedDir            string
	Indirect                      []string // "path version" of the SDK's requirements
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func validName(n string) bool {
	if n == "" || len(n) > 32 || n[0] < 'a' || n[0] > 'z' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// locateSDK finds the SDK and unified modules from a checkout's root or its
// connectors/ folder, as absolute paths.
func locateSDK(path string) (sdk, unified string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", fmt.Errorf("template: %w", err)
	}
	switch modulePath(filepath.Join(abs, "go.mod")) {
	case sdkModule:
		sdk = abs
	case rootModule:
		sdk = filepath.Join(abs, "connectors")
	default:
		return "", "", fmt.Errorf("template: %s is neither a Ferry checkout nor its connectors/ folder", path)
	}
	if modulePath(filepath.Join(sdk, "go.mod")) != sdkModule {
		return "", "", fmt.Errorf("template: no SDK module in %s", sdk)
	}
	unified = filepath.Join(filepath.Dir(sdk), "unified")
	if modulePath(filepath.Join(unified, "go.mod")) != unifiedModule {
		return "", "", fmt.Errorf("template: no unified module beside the SDK (%s)", unified)
	}
	return sdk, unified, nil
}

func modulePath(goModFile string) string {
	data, err := os.ReadFile(goModFile)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// requirements returns the SDK's requirements other than Ferry's own
// modules, and its go version. Listing them all keeps the new module's
// build list the SDK's, tested one.
func requirements(goModFile string) ([]string, string, error) {
	data, err := os.ReadFile(goModFile)
	if err != nil {
		return nil, "", fmt.Errorf("template: %w", err)
	}
	var reqs []string
	goVersion := ""
	inBlock := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "go "):
			goVersion = strings.TrimSpace(strings.TrimPrefix(line, "go "))
			continue
		case line == "require (":
			inBlock = true
			continue
		case inBlock && line == ")":
			inBlock = false
			continue
		}
		req, single := strings.CutPrefix(line, "require ")
		if !inBlock && !single {
			continue
		}
		f := strings.Fields(req)
		if len(f) != 2 || f[0] == rootModule || strings.HasPrefix(f[0], rootModule+"/") {
			continue
		}
		reqs = append(reqs, f[0]+" "+f[1])
	}
	if goVersion == "" {
		return nil, "", errors.New("template: the SDK's go.mod has no go directive")
	}
	slices.Sort(reqs)
	return reqs, goVersion, nil
}
