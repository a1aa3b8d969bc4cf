package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ferryhealth/ferry/internal/gateway"
	"github.com/ferryhealth/ferry/plugins/sandbox"
	"github.com/ferryhealth/ferry/proxy/config"
)

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (JSON)")
	if err := fs.Parse(args); err != nil || *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: ferry serve --config FILE")
		return 2
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	cfg, probs := config.Load(*path)
	if len(probs) > 0 {
		printProblems(stderr, *path, probs)
		return 1
	}
	logger := newLogger(stderr)
	g, err := gateway.Start(context.Background(), cfg, config.Hash(data), stdout, logger, gateway.Options{ConfigPath: *path})
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 3
	}
	logger.Info("ferry serving", "api", g.APIAddr().String(), "admin", g.AdminAddr().String(), "region", cfg.Node.Region)
	return g.Wait(logger)
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (JSON)")
	if err := fs.Parse(args); err != nil || *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: ferry check --config FILE")
		return 2
	}
	cfg, probs := config.Load(*path)
	if len(probs) > 0 {
		printProblems(stdout, *path, probs)
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stdout, "%s: warning: %s\n", *path, w.String())
	}
	// The sandbox each plugin would run in here, on this kernel; a plugin
	// whose mode this kernel cannot honour would be refused by serve.
	fmt.Fprintf(stdout, "plugin sandbox: this kernel: %s\n", sandbox.Probe())
	for i, p := range cfg.Plugins {
		st, err := sandbox.Probe().Plan(gateway.SandboxMode(cfg, p))
		if err != nil {
			probs = append(probs, config.Problem{Path: fmt.Sprintf("$.plugins[%d].sandbox", i), Message: fmt.Sprintf("plugin %q would not start on this machine: %v", p.Kind, err)})
			continue
		}
		fmt.Fprintf(stdout, "plugin sandbox: %s: %s\n", p.Kind, st)
	}
	if len(probs) > 0 {
		printProblems(stdout, *path, probs)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

func printProblems(w io.Writer, path string, probs []config.Problem) {
	for _, p := range probs {
		fmt.Fprintf(w, "%s: %s\n", path, p.String())
	}
	fmt.Fprintf(w, "%d problem(s)\n", len(probs))
}
