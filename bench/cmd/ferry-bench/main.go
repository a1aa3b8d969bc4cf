// Command ferry-bench measures Ferry side by side with the fixture alone,
// nginx and a bare fasthttp proxy, and prints a markdown table (see
// docs/performance.md).
//
//	go run ./bench/cmd/ferry-bench                      # every workload, 3 rounds (~10 min)
//	go run ./bench/cmd/ferry-bench -quick               # seconds: checks the harness works
//	go run ./bench/cmd/ferry-bench -workloads W1,W3 -rounds 5 -duration 5s -profile
//
// It re-executes itself under `taskset -c 0` so that the load generator
// has CPU 0 and the server side (started under `taskset -c 1`) CPU 1. The
// fixture and fastproxy subcommands are those server-side processes.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferryhealth/ferry/bench/harness"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "fixture":
			os.Exit(fixture(os.Args[2:]))
		case "fastproxy":
			os.Exit(fastproxy(os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:]))
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(args []string) int {
	fs := flag.NewFlagSet("ferry-bench", flag.ContinueOnError)
	var o harness.Options
	fs.IntVar(&o.Rounds, "rounds", 3, "rounds; each measures every workload on every target once")
	fs.DurationVar(&o.Duration, "duration", 2*time.Second, "measured time of each phase")
	fs.DurationVar(&o.Warm, "warm", 300*time.Millisecond, "unmeasured warm-up before each phase")
	workloads := fs.String("workloads", "", "comma-separated W1…W6 (default all)")
	targets := fs.String("targets", "", "comma-separated direct,nginx,fastproxy,ferry,inprocess (default all; direct always runs)")
	fs.IntVar(&o.Conc, "conc", 64, "capacity probe concurrency")
	w5 := fs.String("w5", "1,100,1000,10000", "W5's tenant counts")
	fs.IntVar(&o.W6InFlight, "w6-inflight", 2000, "W6's requests in flight")
	fs.StringVar(&o.BinDir, "bin", "", "folder with ferry and ferry-connector-fhir (default: build them, with symbols)")
	fs.StringVar(&o.OutDir, "out", "", "where the CSV and table go (default bench/results)")
	fs.BoolVar(&o.Profile, "profile", false, "record a perf profile of ferry + plugin on W1 and W3 after the rounds")
	fs.BoolVar(&o.SandboxOff, "sandbox-off", false, "start Ferry's plugins without the kernel sandbox, to price it")
	noPin := fs.Bool("no-pin", false, "do not pin the load generator and the server side to separate CPUs")
	quick := fs.Bool("quick", false, "one short round with small W5 and W6: checks the harness, measures nothing")
	fs.DurationVar(&o.Fixture.Latency, "latency", 0, "fixture: latency added to every answer")
	fs.DurationVar(&o.Fixture.Jitter, "jitter", 0, "fixture: up to this much more latency")
	fs.IntVar(&o.Fixture.ErrorEvery, "error-every", 0, "fixture: answer every n-th request 500")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Workloads, o.Targets = splitList(*workloads), splitList(*targets)
	for _, s := range splitList(*w5) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "ferry-bench: -w5: bad tenant count %q\n", s)
			return 2
		}
		o.W5Sizes = append(o.W5Sizes, n)
	}
	if *quick {
		o.Rounds, o.Duration, o.Warm, o.W5Sizes, o.W6InFlight = 1, 300*time.Millisecond, 100*time.Millisecond, []int{1, 100}, 200
	}

	// Pinning: re-run this program on CPU 0 only; it starts the server
	// side on CPU 1.
	_, errTaskset := exec.LookPath("taskset")
	o.Pin = !*noPin && harness.MachineCPUs() >= 2 && errTaskset == nil
	if o.Pin && os.Getenv("FERRY_BENCH_PINNED") != "1" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ferry-bench:", err)
			return 3
		}
		cmd := exec.Command("taskset", append([]string{"-c", "0", exe}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), "FERRY_BENCH_PINNED=1")
		signal.Ignore(os.Interrupt, syscall.SIGTERM) // the child handles them
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			fmt.Fprintln(os.Stderr, "ferry-bench:", err)
			return 3
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := harness.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-bench:", err)
		return 1
	}
	return 0
}

func waitSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func fixture(args []string) int {
	fs := flag.NewFlagSet("fixture", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	var o harness.FixtureOptions
	fs.DurationVar(&o.Latency, "latency", 0, "latency added to every answer")
	fs.DurationVar(&o.Jitter, "jitter", 0, "up to this much more latency")
	fs.IntVar(&o.ErrorEvery, "error-every", 0, "answer every n-th request 500")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	f, err := harness.NewFixture(o)
	if err == nil {
		err = f.Listen(*listen)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixture:", err)
		return 1
	}
	waitSignal()
	_ = f.Close()
	return 0
}

func fastproxy(args []string) int {
	fs := flag.NewFlagSet("fastproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	stats := fs.String("stats", "127.0.0.1:0", "allocation counter's address")
	upstream := fs.String("upstream", "", "upstream host:port")
	if err := fs.Parse(args); err != nil || *upstream == "" {
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fastproxy:", err)
		return 1
	}
	sln, err := net.Listen("tcp", *stats)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fastproxy:", err)
		return 1
	}
	harness.ServeFastProxy(ln, sln, *upstream)
	waitSignal()
	return 0
}
