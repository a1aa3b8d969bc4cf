package conformance

import (
	"fmt"
	"io"
	"strings"
)

// Status is the outcome of one check.
type Status string

// The statuses.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one check's outcome.
type Result struct {
	Name   string
	Status Status
	// Reason says what was verified (PASS), why it was not (SKIP), or each
	// problem found (FAIL), one per line.
	Reason string
}

// Report is the outcome of every check, in order.
type Report struct {
	Binary string
	// Kind is the connector kind the plugin's manifest reported; empty
	// when it did not answer.
	Kind    string
	Results []Result
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return true
		}
	}
	return false
}

// Result returns the result of the named check.
func (r *Report) Result(name string) (Result, bool) {
	for _, res := range r.Results {
		if res.Name == name {
			return res, true
		}
	}
	return Result{}, false
}

// Write prints the report: one line per check, problems indented below it,
// and a summary line.
func (r *Report) Write(w io.Writer) {
	width := 0
	for _, res := range r.Results {
		width = max(width, len(res.Name))
	}
	counts := map[Status]int{}
	for _, res := range r.Results {
		counts[res.Status]++
		lines := strings.Split(strings.TrimRight(res.Reason, "\n"), "\n")
		fmt.Fprintf(w, "%s  %-*s  %s\n", res.Status, width, res.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%s  %-*s  %s\n", "    ", width, "", l)
		}
	}
	fmt.Fprintf(w, "%d checks: %d passed, %d failed, %d skipped\n", len(r.Results), counts[Pass], counts[Fail], counts[Skip])
}

// problems collects a check's findings; a check with none passes.
type problems struct {
	list []string
	max  int
	more int
}

func (p *problems) add(format string, args ...any) {
	if p.max == 0 {
		p.max = 12
	}
	if len(p.list) >= p.max {
		p.more++
		return
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) result(name, passReason string) Result {
	if len(p.list) == 0 {
		return Result{Name: name, Status: Pass, Reason: passReason}
	}
	reason := fmt.Sprintf("%d problem(s):", len(p.list)+p.more)
	for _, l := range p.list {
		reason += "\n- " + l
	}
	if p.more > 0 {
		reason += fmt.Sprintf("\n- … and %d more", p.more)
	}
	return Result{Name: name, Status: Fail, Reason: reason}
}
