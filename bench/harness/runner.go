package harness

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Options configure a run. Zero values take the defaults.
type Options struct {
	// Rounds: every workload is measured on every target once per round,
	// targets in a rotated order, so slow drifts of a shared machine
	// spread over all of them. Default 3.
	Rounds int
	// Duration of each measured phase; Warm of the unmeasured lead-in.
	// Defaults 2s and 300ms.
	Duration, Warm time.Duration
	// Workloads and Targets select by name (W1…W6; direct, nginx,
	// fastproxy, ferry, inprocess); empty means all. direct is always run: every
	// ratio is to it.
	Workloads, Targets []string
	// Conc is the capacity probe's concurrency. Default 64.
	Conc int
	// W5Sizes are W5's tenant counts. Default 1, 100, 1000, 10000.
	W5Sizes []int
	// W6InFlight is W6's concurrency. Default 2000.
	W6InFlight int
	// BinDir holds ferry and ferry-connector-fhir; empty builds them.
	BinDir string
	// SandboxOff starts Ferry's plugins without the kernel sandbox
	// (plugins[].sandbox "off"), to price it against a default run.
	SandboxOff bool
	// OutDir receives the raw CSV and the table. Default bench/results
	// under the repository.
	OutDir string
	// Pin runs the load generator on CPU 0 and the server side on CPU 1
	// (the caller pins itself; see cmd/ferry-bench).
	Pin bool
	// Self is the harness executable, run for the fixture and fastproxy
	// subcommands. Default os.Executable.
	Self    string
	Fixture FixtureOptions
	// Profile, when set, records a perf profile of the Ferry processes
	// during W1 and W3 into OutDir (see profile.go).
	Profile bool
	// Log receives progress; Out the final table. Defaults stderr, stdout.
	Log, Out io.Writer
}

func (o *Options) defaults() {
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Warm <= 0 {
		o.Warm = 300 * time.Millisecond
	}
	if o.Conc <= 0 {
		o.Conc = 64
	}
	if len(o.W5Sizes) == 0 {
		o.W5Sizes = []int{1, 100, 1000, 10000}
	}
	if o.W6InFlight <= 0 {
		o.W6InFlight = 2000
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// Row is one measured phase: the raw CSV's line.
type Row struct {
	Round    int
	Workload string
	Target   string
	// Phase is probe (closed loop at Conc), c1 (closed loop, one at a
	// time), open50 (open loop at half the target's probed capacity) or
	// direct@<target> (the fixture alone at that same rate).
	Phase   string
	Conc    int
	Rate    float64 // open loop's offered rate
	Seconds float64
	OK, Err int
	RPS     float64
	// P50…P999 are latencies in ms: from the scheduled send time in the
	// open loop, from the send in closed loops.
	P50, P90, P99, P999 float64
	// CPUus is the server side's CPU time per operation in µs (proxy and
	// plugins; for direct, the fixture).
	CPUus float64
	// ClientUtil is the load generator's CPU use over the window (1 = one
	// CPU): near 1, the figure may be the client's limit.
	ClientUtil float64
	// RSSPeakKB is the largest summed VmRSS seen during the phase;
	// HWMKB the summed VmHWM after it.
	RSSPeakKB, HWMKB int64
	// Allocs is heap objects per operation in the target's Go process
	// (Ferry: the host only), -1 where it cannot be read.
	Allocs float64
}

var csvHeader = "round,workload,target,phase,conc,rate,seconds,ok,err,rps,p50_ms,p90_ms,p99_ms,p999_ms,cpu_us_per_op,client_util,rss_peak_kb,hwm_kb,allocs_per_op"

func (r Row) csv() string {
	return fmt.Sprintf("%d,%s,%s,%s,%d,%.1f,%.3f,%d,%d,%.1f,%.3f,%.3f,%.3f,%.3f,%.1f,%.2f,%d,%d,%.1f",
		r.Round, r.Workload, r.Target, r.Phase, r.Conc, r.Rate, r.Seconds, r.OK, r.Err, r.RPS,
		r.P50, r.P90, r.P99, r.P999, r.CPUus, r.ClientUtil, r.RSSPeakKB, r.HWMKB, r.Allocs)
}

type runner struct {
	o       Options
	e       *env
	direct  *Target
	targets []*Target
	clients map[string]*fasthttp.HostClient
	rows    []Row
}

func (r *runner) logf(format string, a ...any) { fmt.Fprintf(r.o.Log, format+"\n", a...) }

func (r *runner) client(t *Target, conns int) *fasthttp.HostClient {
	k := t.Name + "/" + strconv.Itoa(conns)
	c := r.clients[k]
	if c == nil {
		c = newClient(t.Addr, conns)
		r.clients[k] = c
	}
	return c
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *runner) fill(row *Row, run *Result) {
	row.Seconds = run.Window.Seconds()
	row.OK, row.Err, row.RPS = run.OK, run.Err, run.RPS()
	row.P50, row.P90, row.P99, row.P999 = ms(run.Quantile(0.5)), ms(run.Quantile(0.9)), ms(run.Quantile(0.99)), ms(run.Quantile(0.999))
	if len(run.lat) == 0 {
		// No operation both started and ended in the window: no latency
		// to report (not zero).
		row.P50, row.P90, row.P99, row.P999 = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	if run.Window > 0 && row.Rate == 0 {
		row.ClientUtil = run.ClientCPU.Seconds() / run.Window.Seconds()
	}
}

// measure runs one phase against t and records a row. rate > 0 runs the
// open loop, otherwise the closed loop at conc.
func (r *runner) measure(round int, w *Workload, t *Target, op Op, phase string, conc int, rate float64) Row {
	pids := t.PIDs()
	row := Row{Round: round, Workload: w.Name, Target: t.Name, Phase: phase, Conc: conc, Rate: rate, Allocs: -1}
	var cpu0, cpu1 time.Duration
	var a0, a1 uint64
	var aok bool
	hooks := Hooks{
		Start: func() { cpu0 = treeCPU(pids); a0, aok = t.Allocs() },
		Stop: func() {
			cpu1 = treeCPU(pids)
			if aok {
				a1, aok = t.Allocs()
			}
		},
	}
	s := sampleRSS(func() []int { return pids }, 100*time.Millisecond)
	var run *Result
	if rate > 0 {
		run = OpenLoop(r.client(t, r.o.Conc), op, rate, r.o.Conc, r.o.Warm, r.o.Duration, hooks)
	} else {
		run = ClosedLoop(r.client(t, conc), op, conc, r.o.Warm, r.o.Duration, hooks)
	}
	row.RSSPeakKB = s.Peak()
	_, row.HWMKB = treeMemKB(pids)
	r.fill(&row, run)
	if run.OK > 0 {
		row.CPUus = float64((cpu1 - cpu0).Microseconds()) / float64(run.OK+run.Err)
		if aok && a1 >= a0 {
			row.Allocs = max(float64(a1-a0)-float64(t.scrape), 0) / float64(run.OK+run.Err)
		}
	}
	r.rows = append(r.rows, row)
	if len(run.Errors) > 0 {
		r.logf("  %s %s %s errors: %v", w.Name, t.Name, phase, run.Errors)
	}
	extra := ""
	if g, ok := t.Goroutines(); ok && phase == "probe" {
		extra = fmt.Sprintf("  rss %.0f MB  %d goroutines after", float64(row.RSSPeakKB)/1024, g)
	}
	r.logf("  %-3s %-14s %-16s %8.0f op/s  p50 %7.3f ms  p99 %7.3f ms  cpu %7.1f µs/op  err %d  client %.0f%%%s",
		w.Name, t.Name, phase, row.RPS, row.P50, row.P99, row.CPUus, row.Err, 100*row.ClientUtil, extra)
	return row
}

func selected(list []string, name string) bool {
	return len(list) == 0 || slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, name) })
}

// Run starts the fixture and the targets, measures every selected
// workload on every target in rounds, prints the tables and writes the raw
// CSV. It stops every process it started before returning.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Self == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Self = exe
	}
	if o.OutDir == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		o.OutDir = filepath.Join(root, "bench", "results")
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e := &env{dir: dir, self: o.Self, pin: o.Pin, sandboxOff: o.SandboxOff}
	defer e.stopAll()
	r := &runner{o: o, e: e, clients: map[string]*fasthttp.HostClient{}}

	var wls []*Workload
	for _, w := range Workloads(&o) {
		if selected(o.Workloads, w.Name) {
			wls = append(wls, w)
		}
	}
	if len(wls) == 0 {
		return nil, fmt.Errorf("no workload selected (W1…W6)")
	}
	wantW5 := slices.ContainsFunc(wls, func(w *Workload) bool { return w.Name == "W5" })

	if selected(o.Targets, KindFerry) || selected(o.Targets, KindInProcess) {
		if e.ferry, e.plugin, err = Binaries(o.BinDir, dir, o.Log); err != nil {
			return nil, err
		}
	}
	if selected(o.Targets, KindInProcess) {
		if e.inproc, err = InProcessBinary(dir, o.Log); err != nil {
			return nil, err
		}
	}
	if selected(o.Targets, KindNginx) {
		if e.nginx, err = NginxPath(); err != nil {
			return nil, err
		}
	}
	r.logf("starting the fixture and targets (scratch %s)", dir)
	if r.direct, err = e.startFixture(o.Fixture); err != nil {
		return nil, err
	}
	r.targets = append(r.targets, r.direct)
	starts := []struct {
		kind  string
		start func() (*Target, error)
	}{
		{KindNginx, e.startNginx},
		{KindFastProxy, e.startFastProxy},
		// Two tenants: W1–W4 use the first, W6 the second.
		{KindFerry, func() (*Target, error) { return e.startFerry("ferry", 2) }},
		{KindInProcess, func() (*Target, error) { return e.startInProcess("inprocess", 2) }},
	}
	for _, s := range starts {
		if !selected(o.Targets, s.kind) {
			continue
		}
		t, err := s.start()
		if err != nil {
			return nil, err
		}
		r.targets = append(r.targets, t)
	}
	if wantW5 && selected(o.Targets, KindFerry) {
		for _, n := range o.W5Sizes {
			began := time.Now()
			t, err := e.startFerry("ferry-n"+strconv.Itoa(n), n)
			if err != nil {
				return nil, err
			}
			t.Name, t.w5 = "ferry N="+strconv.Itoa(n), true
			rss, _ := treeMemKB(t.PIDs())
			g, _ := t.Goroutines()
			r.logf("  %s ready in %v, RSS %.1f MB idle, %d goroutines in ferry", t.Name, time.Since(began).Round(time.Millisecond), float64(rss)/1024, g)
			r.targets = append(r.targets, t)
		}
	}

	began := time.Now()
	for round := 1; round <= o.Rounds; round++ {
		for _, w := range wls {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r.logf("round %d/%d %s: %s", round, o.Rounds, w.Name, w.Desc)
			r.runWorkload(round, w)
		}
	}
	r.logf("measured in %v", time.Since(began).Round(time.Second))
	if o.Profile && selected(o.Targets, KindFerry) {
		if err := r.profile(wls); err != nil {
			r.logf("profile: %v", err)
		}
	}
	rep := buildReport(r.rows, wls, r.targets, o)
	rep.Stamp = machineStamp(o)
	stamp := time.Now().UTC().Format("20060102T150405Z")
	csvPath := filepath.Join(o.OutDir, "bench-"+stamp+".csv")
	if err := rep.WriteCSV(csvPath); err != nil {
		return nil, err
	}
	md := rep.Markdown()
	if err := os.WriteFile(filepath.Join(o.OutDir, "bench-"+stamp+".md"), []byte(md), 0o644); err != nil {
		return nil, err
	}
	fmt.Fprint(o.Out, md)
	fmt.Fprintf(o.Out, "\nraw: %s\n", csvPath)
	return rep, nil
}

// runWorkload measures w on every target it applies to, in an order
// rotated by round.
func (r *runner) runWorkload(round int, w *Workload) {
	var ts []*Target
	for _, t := range r.targets {
		if w.op(t) != nil {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return
	}
	k := (round - 1) % len(ts)
	ts = append(ts[k:], ts[:k]...)
	conc := r.o.Conc
	if w.Conc > 0 {
		conc = w.Conc
	}
	capacity := map[string]float64{}
	for _, t := range ts {
		row := r.measure(round, w, t, w.op(t), "probe", conc, 0)
		capacity[t.Name] = row.RPS
	}
	if w.Conc > 0 {
		// Many connections: let them go before the next workload.
		for _, t := range ts {
			r.client(t, conc).CloseIdleConnections()
		}
	}
	if !w.Latency {
		return
	}
	for _, t := range ts {
		r.measure(round, w, t, w.op(t), "c1", 1, 0)
	}
	for _, t := range ts {
		rate := capacity[t.Name] / 2
		if rate < 1 {
			continue
		}
		if t != r.direct {
			r.measure(round, w, r.direct, w.op(r.direct), "direct@"+t.Name, 0, rate)
		}
		r.measure(round, w, t, w.op(t), "open50", 0, rate)
	}
}

// MachineCPUs counts the machine's CPUs, not those this process may use.
func MachineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return max(n, 1)
}

// machineStamp describes where the figures were taken.
func machineStamp(o Options) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		mem = strings.Join(strings.Fields(line)[1:], " ")
	}
	nginx := "-"
	if p, err := NginxPath(); err == nil {
		if out, err := execOutput(p, "-v"); err == nil {
			nginx = strings.TrimSpace(strings.TrimPrefix(out, "nginx version: "))
		}
	}
	pin := "not pinned"
	if o.Pin {
		pin = "load generator on CPU " + clientCPU + ", server side on CPU " + serverCPU
	}
	return fmt.Sprintf("%s, %d CPUs, %s RAM, Linux %s, %s, %s; %s; %d rounds × %v phases (warm-up %v), probe concurrency %d",
		model, MachineCPUs(), mem, kernel, runtime.Version(), nginx, pin, o.Rounds, o.Duration, o.Warm, o.Conc)
}
