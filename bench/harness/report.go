package harness

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Report is a run's figures: the raw rows and the summaries the tables
// show.
type Report struct {
	Stamp string
	Rows  []Row
	// Lines are the summaries, one per workload and target, in table
	// order.
	Lines []Line
	// Compass are the targets and where the run stands.
	Compass []string
}

// Line summarises one target on one workload over all rounds.
type Line struct {
	Workload, Target, PerOp string
	// RPS is the capacity probe's rate: median, min and max over rounds.
	RPS, RPSMin, RPSMax float64
	// XDirect and XNginx are medians of the per-round ratios of RPS.
	XDirect, XNginx float64
	// CPUus is the median server CPU per operation; CPUXNginx the median
	// of per-round ratios to nginx's.
	CPUus, CPUXNginx float64
	// ProbeP50 and ProbeP99 are the closed-loop latencies under the probe
	// (ms; with coordinated omission).
	ProbeP50, ProbeP99 float64
	// C1P50…: latency at c=1, and added over direct (medians of per-round
	// differences), ms.
	C1P50, C1P99, C1AddP50, C1AddP99 float64
	// Rate50 is the open loop's rate; O50P50…: its latencies from the
	// schedule and added over direct at the same rate, ms.
	Rate50, O50P50, O50P99, O50AddP50, O50AddP99 float64
	HasLatency                                   bool
	RSSPeakMB                                    float64
	Allocs                                       float64
	ErrPct                                       float64
	ClientBound                                  bool
}

func median(v []float64) float64 {
	v = slices.DeleteFunc(slices.Clone(v), func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) })
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func find(rows []Row, round int, w, t, phase string) *Row {
	for i := range rows {
		r := &rows[i]
		if r.Round == round && r.Workload == w && r.Target == t && r.Phase == phase {
			return r
		}
	}
	return nil
}

func buildReport(rows []Row, wls []*Workload, targets []*Target, o Options) *Report {
	rep := &Report{Rows: rows}
	for _, w := range wls {
		for _, t := range targets {
			if w.op(t) == nil {
				continue
			}
			l := Line{Workload: w.Name, Target: t.Name, PerOp: w.PerOp, HasLatency: w.Latency, Allocs: -1}
			var rps, xd, xn, cpu, cpuxn, p50, p99, c50, c99, ca50, ca99, rate, o50, o99, oa50, oa99, allocs []float64
			var ok, bad int
			for round := 1; round <= o.Rounds; round++ {
				pr := find(rows, round, w.Name, t.Name, "probe")
				if pr == nil {
					continue
				}
				ok += pr.OK
				bad += pr.Err
				rps = append(rps, pr.RPS)
				cpu = append(cpu, pr.CPUus)
				p50 = append(p50, pr.P50)
				p99 = append(p99, pr.P99)
				l.RSSPeakMB = max(l.RSSPeakMB, float64(pr.RSSPeakKB)/1024)
				if pr.Allocs >= 0 {
					allocs = append(allocs, pr.Allocs)
				}
				if pr.ClientUtil > 0.9 && o.Pin {
					l.ClientBound = true
				}
				if d := find(rows, round, w.Name, KindDirect, "probe"); d != nil && d.RPS > 0 {
					xd = append(xd, pr.RPS/d.RPS)
				}
				if n := find(rows, round, w.Name, KindNginx, "probe"); n != nil && n.RPS > 0 {
					xn = append(xn, pr.RPS/n.RPS)
					if n.CPUus > 0 {
						cpuxn = append(cpuxn, pr.CPUus/n.CPUus)
					}
				}
				if c := find(rows, round, w.Name, t.Name, "c1"); c != nil {
					c50 = append(c50, c.P50)
					c99 = append(c99, c.P99)
					if d := find(rows, round, w.Name, KindDirect, "c1"); d != nil {
						ca50 = append(ca50, c.P50-d.P50)
						ca99 = append(ca99, c.P99-d.P99)
					}
				}
				if op := find(rows, round, w.Name, t.Name, "open50"); op != nil {
					rate = append(rate, op.Rate)
					o50 = append(o50, op.P50)
					o99 = append(o99, op.P99)
					ref := find(rows, round, w.Name, KindDirect, "direct@"+t.Name)
					if t.Kind == KindDirect {
						ref = op
					}
					if ref != nil {
						oa50 = append(oa50, op.P50-ref.P50)
						oa99 = append(oa99, op.P99-ref.P99)
					}
				}
			}
			if len(rps) == 0 {
				continue
			}
			l.RPS, l.RPSMin, l.RPSMax = median(rps), slices.Min(rps), slices.Max(rps)
			l.XDirect, l.XNginx = median(xd), median(xn)
			l.CPUus, l.CPUXNginx = median(cpu), median(cpuxn)
			l.ProbeP50, l.ProbeP99 = median(p50), median(p99)
			l.C1P50, l.C1P99, l.C1AddP50, l.C1AddP99 = median(c50), median(c99), median(ca50), median(ca99)
			l.Rate50, l.O50P50, l.O50P99, l.O50AddP50, l.O50AddP99 = median(rate), median(o50), median(o99), median(oa50), median(oa99)
			if len(allocs) > 0 {
				l.Allocs = median(allocs)
			}
			if ok+bad > 0 {
				l.ErrPct = 100 * float64(bad) / float64(ok+bad)
			}
			rep.Lines = append(rep.Lines, l)
		}
	}
	rep.Compass = compass(rep.Lines)
	return rep
}

func (rep *Report) line(w, t string) *Line {
	for i := range rep.Lines {
		if rep.Lines[i].Workload == w && rep.Lines[i].Target == t {
			return &rep.Lines[i]
		}
	}
	return nil
}

// compass states the targets and the run's figures against them.
func compass(lines []Line) []string {
	rep := &Report{Lines: lines}
	var out []string
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	if f := rep.line("W1", KindFerry); f != nil && f.ErrPct > 1 {
		out = append(out, fmt.Sprintf("W1: Ferry answered %.0f%% of the probe's requests with errors: no valid figure", f.ErrPct))
	} else if f != nil {
		if !math.IsNaN(f.CPUXNginx) {
			out = append(out, fmt.Sprintf("W1 server CPU per request: Ferry %.0f µs = %.2f× nginx (target ≤ 2.5×): %s",
				f.CPUus, f.CPUXNginx, verdict(f.CPUXNginx <= 2.5)))
		}
		if !math.IsNaN(f.C1AddP50) {
			out = append(out, fmt.Sprintf("W1 added p50 at c=1: Ferry +%.3f ms over direct (target ≤ 0.25 ms): %s",
				f.C1AddP50, verdict(f.C1AddP50 <= 0.25)))
		}
	}
	var one, most *Line
	mostN := 0
	for i := range lines {
		l := &lines[i]
		if l.Workload != "W5" || !strings.HasPrefix(l.Target, "ferry N=") {
			continue
		}
		var n int
		fmt.Sscanf(strings.TrimPrefix(l.Target, "ferry N="), "%d", &n)
		if n == 1 {
			one = l
		}
		if n > mostN {
			most, mostN = l, n
		}
	}
	if one != nil && most != nil && most != one && one.RSSPeakMB > 0 {
		r := most.RSSPeakMB / one.RSSPeakMB
		out = append(out, fmt.Sprintf("W5 peak RSS with %d tenants: %.1f MB = %.2f× with 1 (%.1f MB) (target ≤ 1.5×): %s",
			mostN, most.RSSPeakMB, r, one.RSSPeakMB, verdict(r <= 1.5)))
	}
	return out
}

func f1(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f", v)
}

func f2(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func f3(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%+.3f", v)
}

func f0(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// Markdown renders the stamp, the tables and the compass.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s\n\n", rep.Stamp)
	b.WriteString("### Capacity and cost (closed-loop probe)\n\n")
	b.WriteString("| workload | target | op/s median [range] | × direct | × nginx | server CPU µs/op | CPU × nginx | probe p50 / p99 ms | peak RSS MB | allocs/op | err % |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, l := range rep.Lines {
		w := l.Workload
		if l.PerOp != "" {
			w += " (op = " + l.PerOp + ")"
		}
		cb := ""
		if l.ClientBound {
			cb = " ‡"
		}
		allocs := "–"
		if l.Allocs >= 0 {
			allocs = f0(l.Allocs)
		}
		fmt.Fprintf(&b, "| %s | %s | %s [%s–%s]%s | %s | %s | %s | %s | %s / %s | %s | %s | %.2f |\n",
			w, l.Target, f0(l.RPS), f0(l.RPSMin), f0(l.RPSMax), cb, f2(l.XDirect), f2(l.XNginx),
			f1(l.CPUus), f2(l.CPUXNginx), f2(l.ProbeP50), f2(l.ProbeP99), f1(l.RSSPeakMB), allocs, l.ErrPct)
	}
	b.WriteString("\n‡ the load generator used > 90% of its CPU: the target may be faster than shown.\n")
	b.WriteString("\n### Latency (ms): one at a time, and open loop at 50% of each target's capacity\n\n")
	b.WriteString("| workload | target | c=1 p50 / p99 | added over direct p50 / p99 | 50% rate op/s | p50 / p99 | added over direct p50 / p99 |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, l := range rep.Lines {
		if !l.HasLatency {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s / %s | %s / %s | %s | %s / %s | %s / %s |\n",
			l.Workload, l.Target, f2(l.C1P50), f2(l.C1P99), f3(l.C1AddP50), f3(l.C1AddP99),
			f0(l.Rate50), f2(l.O50P50), f2(l.O50P99), f3(l.O50AddP50), f3(l.O50AddP99))
	}
	if len(rep.Compass) > 0 {
		b.WriteString("\n### Compass\n\n")
		for _, c := range rep.Compass {
			b.WriteString("- " + c + "\n")
		}
	}
	return b.String()
}

// WriteCSV writes the raw rows.
func (rep *Report) WriteCSV(path string) error {
	var b strings.Builder
	b.WriteString(csvHeader + "\n")
	for _, r := range rep.Rows {
		b.WriteString(r.csv() + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
