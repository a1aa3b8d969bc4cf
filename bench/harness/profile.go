package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profile records where Ferry's server side spends its CPU on W1 and W3:
// perf samples the ferry process and its plugin together (so the kernel's
// share of the socket round trips shows too) while a closed loop drives
// them. Ferry has no pprof endpoint, and the profile must cover both
// processes, which a Go profile of one cannot. The binaries the harness
// builds keep their symbols; bin/ (built with -s -w) does not, so run
// without -bin to profile.
func (r *runner) profile(wls []*Workload) error {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return fmt.Errorf("perf is not installed (apt-get install linux-perf): %w", err)
	}
	var ferry *Target
	for _, t := range r.targets {
		if t.Kind == KindFerry && !t.w5 {
			ferry = t
		}
	}
	if ferry == nil {
		return nil
	}
	for _, w := range wls {
		if w.Name != "W1" && w.Name != "W3" {
			continue
		}
		pids := ferry.PIDs()
		var ps []string
		for _, p := range pids {
			ps = append(ps, strconv.Itoa(p))
		}
		// Kept with the results, for `perf report -i` afterwards.
		data := filepath.Join(r.o.OutDir, "perf-"+w.Name+".data")
		d := max(r.o.Duration, 5*time.Second)
		rec := exec.Command(perf, "record", "-q", "-e", "cpu-clock", "-F", "4999", "-g", "-o", data,
			"-p", strings.Join(ps, ","), "--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 1, 64))
		rec.Stderr = r.o.Log
		if err := rec.Start(); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		r.logf("profiling %s on %s for %v (perf, pids %s)", w.Name, ferry.Name, d, strings.Join(ps, ","))
		run := ClosedLoop(r.client(ferry, r.o.Conc), w.op(ferry), r.o.Conc, 0, d, Hooks{})
		if err := rec.Wait(); err != nil {
			return fmt.Errorf("perf record: %w", err)
		}
		r.logf("  %.0f op/s while profiled", run.RPS())
		for _, rp := range []struct{ name, sort string }{
			{"dso", "comm,dso"},
			{"sym", "comm,dso,sym"},
		} {
			out, err := exec.Command(perf, "report", "-i", data, "--no-children", "--stdio", "--percent-limit", "0.5",
				"--sort", rp.sort, "-g", "none").Output()
			if err != nil {
				return fmt.Errorf("perf report: %w", err)
			}
			path := filepath.Join(r.o.OutDir, "profile-"+w.Name+"-"+rp.name+".txt")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				return err
			}
			r.logf("  %s", path)
		}
		script := exec.Command(perf, "script", "-i", data, "-F", "comm,ip,sym,dso")
		out, err := script.Output()
		if err != nil {
			return fmt.Errorf("perf script: %w", err)
		}
		summary := SummarizePerf(strings.NewReader(string(out)))
		path := filepath.Join(r.o.OutDir, "profile-"+w.Name+"-layers.md")
		if err := os.WriteFile(path, []byte(summary), 0o644); err != nil {
			return err
		}
		r.logf("  %s\n%s", path, summary)
		// Inclusive time (children) by symbol: what each layer costs with
		// everything it calls.
		out, err = exec.Command(perf, "report", "-i", data, "--children", "--stdio", "--percent-limit", "2",
			"--sort", "comm,sym", "-g", "none").Output()
		if err == nil {
			path := filepath.Join(r.o.OutDir, "profile-"+w.Name+"-inclusive.txt")
			_ = os.WriteFile(path, out, 0o644)
			r.logf("  %s", path)
		}
	}
	return nil
}
