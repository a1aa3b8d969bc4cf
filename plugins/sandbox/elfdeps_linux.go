package sandbox

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// A plugin built with cgo (the default for a Go binary that imports net on
// a machine with a C compiler) is dynamically linked: the kernel loads its
// ELF interpreter, which opens the shared libraries the binary names. Under
// Landlock those files must be granted by name, so the host reads them out
// of the binary it verified: the interpreter (PT_INTERP) gets read and
// execute, each library (DT_NEEDED, transitively) read only (the loader
// maps them; Landlock checks the open, not the mapping). A static binary
// needs none of this.

// libDirs are where the dynamic loader looks after DT_RPATH/DT_RUNPATH when
// the environment is empty: glibc's multiarch and plain system directories,
// and musl's. /etc/ld.so.cache is not read: the loader falls back to these
// directories when it cannot open it.
func libDirs() []string {
	var triple string
	switch runtime.GOARCH {
	case "amd64":
		triple = "x86_64-linux-gnu"
	case "arm64":
		triple = "aarch64-linux-gnu"
	case "386":
		triple = "i386-linux-gnu"
	case "arm":
		triple = "arm-linux-gnueabihf"
	}
	dirs := []string{}
	if triple != "" {
		dirs = append(dirs, "/lib/"+triple, "/usr/lib/"+triple)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")
}

// loaderFiles returns the ELF interpreter of the executable in r (empty for
// a static binary) and the shared libraries its loader opens, as paths.
// origin is the binary's directory, for $ORIGIN in DT_RUNPATH.
func loaderFiles(r io.ReaderAt, origin string) (interp string, libs []string, err error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return "", nil, fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.NewSectionReader(p, 0, int64(p.Filesz)))
		if err != nil {
			return "", nil, fmt.Errorf("reading PT_INTERP: %w", err)
		}
		interp = strings.TrimRight(string(b), "\x00")
	}
	if interp == "" {
		return "", nil, nil
	}
	if !filepath.IsAbs(interp) {
		return "", nil, fmt.Errorf("ELF interpreter %q is not an absolute path", interp)
	}
	seen := map[string]bool{}
	var walk func(f *elf.File, origin string) error
	walk = func(f *elf.File, origin string) error {
		needed, err := f.DynString(elf.DT_NEEDED)
		if err != nil {
			return fmt.Errorf("reading DT_NEEDED: %w", err)
		}
		var search []string
		runpath, _ := f.DynString(elf.DT_RUNPATH)
		if len(runpath) == 0 {
			runpath, _ = f.DynString(elf.DT_RPATH)
		}
		for _, rp := range runpath {
			for _, d := range strings.Split(rp, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				if filepath.IsAbs(d) {
					search = append(search, d)
				}
			}
		}
		search = append(search, libDirs()...)
		for _, name := range needed {
			if seen[name] {
				continue
			}
			seen[name] = true
			path := findLib(name, search)
			if path == "" {
				return fmt.Errorf("shared library %s not found in %s (build the plugin with CGO_ENABLED=0 for a static binary)", name, strings.Join(search, ":"))
			}
			libs = append(libs, path)
			lf, err := elf.Open(path)
			if err != nil {
				return fmt.Errorf("reading %s: %w", path, err)
			}
			err = walk(lf, filepath.Dir(path))
			lf.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(f, origin); err != nil {
		return "", nil, err
	}
	return interp, libs, nil
}

// findLib returns the first regular file called name in dirs, or "". A
// name with a slash is a path, as for the loader.
func findLib(name string, dirs []string) string {
	if strings.Contains(name, "/") {
		if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() {
			return name
		}
		return ""
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
