package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/conformance"
	"github.com/ferryhealth/ferry/connectors/sdktest"
	"github.com/ferryhealth/ferry/connectors/template"
	"github.com/ferryhealth/ferry/plugins"
	"github.com/ferryhealth/ferry/plugins/sandbox"
)

const pluginUsage = `usage:
  ferry plugin check PATH [--kind K] [--settings JSON] [--recordings FILE]... [--isolation auto|netns|none]
                          [--deadline D] [--margin D] [--verbose]
      start the plugin binary as the host would and run the conformance checks;
      exit 1 if any fails
  ferry plugin init NAME [DIR] [--sdk PATH] [--module PATH]
      write a new connector from the SDK's template into DIR (./ferry-connector-NAME)
`

// cmdPlugin is the connector author's tooling: the conformance kit and the
// template, both from the SDK module.
func cmdPlugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return cmdPluginCheck(args[1:], stdout, stderr)
	case "init":
		return cmdPluginInit(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	fmt.Fprintf(stderr, "ferry plugin: unknown command %q\n\n%s", args[0], pluginUsage)
	return 2
}

// parseInterleaved parses flags that may come before or after the
// positional arguments ("check PATH --kind K"), which flag.Parse alone
// stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdPluginCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "", "the connector kind the plugin must report (its catalog entry's kind)")
	settings := fs.String("settings", "{}", "the connection settings to configure it with (JSON)")
	var recordings listFlag
	fs.Var(&recordings, "recordings", "recorded source answers (sdktest txtar format) to check the mappings with; repeatable")
	isolation := fs.String("isolation", string(conformance.IsolationAuto), "auto | netns | none: run the plugin in a network namespace of its own")
	deadline := fs.Duration("deadline", 500*time.Millisecond, "request deadline of the deadline check")
	margin := fs.Duration("margin", 2*time.Second, "how long after the deadline the plugin may take to answer")
	verbose := fs.Bool("verbose", false, "copy the plugin's stderr to this command's (the host discards it)")
	pos, err := parseInterleaved(fs, args)
	if err != nil || len(pos) != 1 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	if !json.Valid([]byte(*settings)) {
		fmt.Fprintln(stderr, "ferry plugin check: --settings is not JSON")
		return 2
	}
	opts := conformance.Options{
		Binary:    pos[0],
		Kind:      *kind,
		Settings:  json.RawMessage(*settings),
		Deadline:  *deadline,
		Margin:    *margin,
		Isolation: conformance.Isolation(*isolation),
		Sandbox:   kitSandbox,
	}
	if *verbose {
		opts.Stderr = stderr
	}
	if len(recordings) > 0 {
		r, err := sdktest.Replay(recordings...)
		if err != nil {
			fmt.Fprintf(stderr, "ferry plugin check: %v\n", err)
			return 1
		}
		opts.Upstream = r
	}
	ctx := context.Background()
	rep, err := conformance.Check(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "ferry plugin check: %v\n", err)
		return 2
	}
	if hs, _ := rep.Result("handshake"); hs.Status == conformance.Pass && rep.Kind != "" {
		rep.Results = append(rep.Results, hostCheck(ctx, opts.Binary, rep.Kind, opts.Settings))
	}
	fmt.Fprintf(stdout, "ferry plugin check %s (connector protocol v%d)\n", opts.Binary, connectors.ProtocolVersion)
	rep.Write(stdout)
	if rep.Failed() {
		return 1
	}
	return 0
}

// kitSandbox starts a binary for the conformance kit in the host's kernel
// sandbox (plugins/sandbox), as `ferry serve` starts a plugin. It applies
// what this kernel has (best_effort), so the kit's checks run anywhere;
// the kit's sandbox check fails when that is less than a fence.
func kitSandbox(l hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
	sum, err := fileSHA256(cmd.Path)
	if err != nil {
		return nil, err
	}
	digest, err := hex.DecodeString(sum)
	if err != nil {
		return nil, err
	}
	return (&sandbox.Command{Path: cmd.Path, SHA256: digest, Mode: sandbox.ModeBestEffort}).Runner(l, cmd, socketDir)
}

// hostCheck starts the plugin with the production host (plugins.Host), as
// `ferry serve` would from a catalog entry: checksum verified, kind matched,
// manifest validated, the connection configured. The kit speaks the same
// protocol with its own client; this proves the host agrees.
func hostCheck(ctx context.Context, path, kind string, settings json.RawMessage) conformance.Result {
	r := conformance.Result{Name: "host"}
	data, err := os.ReadFile(path)
	if err != nil {
		r.Status, r.Reason = conformance.Fail, err.Error()
		return r
	}
	sum := sha256.Sum256(data)
	errs := &lastError{}
	h, err := plugins.NewHost([]plugins.Spec{{
		Kind: kind, Path: path, SHA256: sum[:],
		Connections: []plugins.Connection{{ID: "conformance", Settings: settings}},
	}}, plugins.Options{Logger: slog.New(errs), MaxBackoff: time.Second})
	if err != nil {
		r.Status, r.Reason = conformance.Fail, err.Error()
		return r
	}
	h.Start()
	defer h.Close()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := h.WaitReady(wctx); err != nil {
		why := errs.get()
		if why == "" {
			why = err.Error()
		}
		r.Status, r.Reason = conformance.Fail, "the production host did not start it: "+why
		return r
	}
	r.Status = conformance.Pass
	r.Reason = fmt.Sprintf("the production host (plugins.Host) starts it from a catalog entry: SHA-256 %x… verified, kind %s matched, manifest accepted, connection configured", sum[:6], kind)
	return r
}

// lastError is a slog handler that keeps the last error the host logged,
// which says why a plugin did not start.
type lastError struct {
	mu  sync.Mutex
	err string
}

func (l *lastError) Enabled(context.Context, slog.Level) bool { return true }
func (l *lastError) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lastError) WithGroup(string) slog.Handler            { return l }
func (l *lastError) Handle(_ context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelError {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			l.mu.Lock()
			l.err = a.Value.String()
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *lastError) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func cmdPluginInit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sdk := fs.String("sdk", "", "a local Ferry checkout (or its connectors/ folder) to build against; nothing is published yet")
	module := fs.String("module", "", "the new module's path (default example.com/ferry-connector-NAME)")
	pos, err := parseInterleaved(fs, args)
	if err != nil || len(pos) < 1 || len(pos) > 2 {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	name := pos[0]
	dir := "ferry-connector-" + name
	if len(pos) == 2 {
		dir = pos[1]
	}
	written, err := template.Write(dir, template.Params{Name: name, Module: *module, SDK: *sdk})
	if err != nil {
		fmt.Fprintf(stderr, "ferry plugin init: %v\n", err)
		if errors.Is(err, os.ErrNotExist) {
			return 1
		}
		return 2
	}
	fmt.Fprintf(stdout, "wrote %d files into %s:\n", len(written), dir)
	for _, f := range written {
		fmt.Fprintf(stdout, "  %s\n", filepath.ToSlash(f))
	}
	fmt.Fprintf(stdout, "\nnext:\n  cd %s\n  go test ./...\n  go build -o ferry-connector-%s . && ferry plugin check ./ferry-connector-%s --kind %s\n", dir, name, name, name)
	if *sdk == "" {
		fmt.Fprintln(stdout, "\nnote: without --sdk, go.mod requires published SDK versions, and none exist yet: pass --sdk PATH to a Ferry checkout")
	}
	return 0
}
