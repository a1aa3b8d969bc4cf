package testpeer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// repoRoot returns the directory holding the module's go.mod, found by
// walking up from the working directory. `go test` runs each package in its
// own directory, so this is how a test in any package finds testdata/peers.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod found above the working directory")
		}
		dir = parent
	}
}
