package sandbox

import (
	"context"
	"io"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// BenchmarkStart: from nothing to the plugin binary exec'd: a plain
// fork+exec (what go-plugin did before the sandbox, minus its hash), the
// launcher with the sandbox off (hash, re-exec of the host, execveat), and
// the launcher applying the full sandbox. The plugin's own start and the
// go-plugin handshake come after and are the same in all three
// (plugins.BenchmarkPluginStart measures the whole). Figures in
// docs/performance.md:
//
//	go test -run '^$' -bench Start -count 10 ./plugins/sandbox/
func BenchmarkStart(b *testing.B) {
	path := probeBinary(b, "a")
	digest := sum(b, path)
	b.Run("exec", func(b *testing.B) {
		for range b.N {
			cmd := exec.Command(path)
			cmd.Stdout = io.Discard
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cmd.Process.Kill()
			cmd.Wait()
			b.StartTimer()
		}
	})
	for _, mode := range []Mode{ModeOff, ModeRequired} {
		b.Run("launcher-"+string(mode), func(b *testing.B) {
			if _, err := Probe().Plan(mode); err != nil {
				b.Skip(err)
			}
			dir := b.TempDir()
			for range b.N {
				c := &Command{Path: path, SHA256: digest, Mode: mode}
				cmd := exec.Command("")
				cmd.Env = []string{}
				r, err := c.Runner(hclog.NewNullLogger(), cmd, dir)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				go io.Copy(io.Discard, r.Stdout())
				go io.Copy(io.Discard, r.Stderr())
				r.Kill(context.Background())
				r.Wait(context.Background())
				b.StartTimer()
			}
		})
	}
}
