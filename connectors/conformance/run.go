package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/recordcheck"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
	"github.com/ferryhealth/ferry/connectors/sdktest"
	"github.com/ferryhealth/ferry/unified"
)

// Run runs every check against opts.Binary as subtests of t, one per check:
// a FAIL fails its subtest with the reason, a SKIP skips it. It returns the
// report.
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Options{Binary: conformance.Build(t, ".")})
//	}
func Run(t *testing.T, opts Options) *Report {
	t.Helper()
	rep, err := Check(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		t.Run(r.Name, func(t *testing.T) {
			t.Helper()
			switch r.Status {
			case Fail:
				t.Error(r.Reason)
			case Skip:
				t.Skip(r.Reason)
			default:
				t.Log(r.Reason)
			}
		})
	}
	return rep
}

// Build compiles the main package pkg (a directory or an import path, as
// `go build` takes it, relative to the test's package directory) into a
// temporary directory and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plugin")
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Check runs every check against opts.Binary and returns the report. A
// plugin that does not start is a failed handshake check in the report;
// an error means the kit could not run at all (no binary, bad options).
func Check(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	if opts.Binary == "" {
		return nil, errors.New("conformance: no plugin binary given")
	}
	fi, err := os.Stat(opts.Binary)
	switch {
	case err != nil:
		return nil, fmt.Errorf("conformance: %w", err)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return nil, fmt.Errorf("conformance: %s is not an executable file", opts.Binary)
	}
	switch opts.Isolation {
	case IsolationAuto, IsolationNetNS, IsolationNone:
	default:
		return nil, fmt.Errorf("conformance: isolation %q: want auto, netns or none", opts.Isolation)
	}
	k := &kit{o: opts, ft: &fakeTransport{}, rep: &Report{Binary: opts.Binary}, calls: map[string]bool{}}
	if opts.Upstream != nil {
		if k.upstream, err = sdktest.NewTransport(opts.Upstream, sdktest.TransportOptions{BaseURL: opts.UpstreamBaseURL}); err != nil {
			return nil, err
		}
	}
	// The checks run the plugin outside the host's sandbox, so the
	// network check sees what it tries (the sandbox would refuse a socket
	// before the namespace counted it); the sandbox check runs it again
	// inside.
	k.p, err = launch(ctx, &k.o, k.ft, false)
	if err != nil {
		k.add(Result{Name: "handshake", Status: Fail, Reason: err.Error()})
		for _, c := range checks {
			k.add(Result{Name: c.name, Status: Skip, Reason: "the plugin did not start"})
		}
		k.add(Result{Name: "network", Status: Skip, Reason: "the plugin did not start"})
		k.add(Result{Name: "sandbox", Status: Skip, Reason: "the plugin did not start"})
		return k.rep, nil
	}
	defer k.p.close()
	k.add(Result{Name: "handshake", Status: Pass, Reason: fmt.Sprintf(
		"go-plugin handshake, connector protocol v%d, control plane over gRPC with AutoMTLS, empty environment; the data plane on fd %d answered Hello (pid %d)",
		connectors.ProtocolVersion, connectors.DataPlaneFD, k.p.pid)})
	watch := startNetWatch(k.p.pid, k.p.isolated)
	for _, c := range checks {
		if k.dead != "" {
			k.add(Result{Name: c.name, Status: Skip, Reason: "the plugin process died earlier, in " + k.deadIn})
			continue
		}
		k.current = c.name
		r := c.run(k)
		r.Name = c.name
		if k.p.exited() && k.dead == "" {
			k.dead, k.deadIn = "the plugin process exited during this check"+k.p.stderr.excerpt(), c.name
		}
		if k.dead != "" && k.deadIn == c.name {
			if r.Status == Fail {
				r.Reason += "\n- " + k.dead
			} else {
				r = Result{Name: c.name, Status: Fail, Reason: k.dead}
			}
		}
		k.add(r)
	}
	k.add(watch.finish(k.p.isolationNote))
	k.add(k.sandboxCheck())
	return k.rep, nil
}

// kit is one conformance run.
type kit struct {
	o        Options
	p        *launched
	ft       *fakeTransport
	rep      *Report
	upstream *sdktest.Transport

	meta       *pb.MetadataResponse
	targets    []target
	configured bool
	// templates are what Configure of the kit's connection returned.
	templates []connectors.SourceTemplate
	// calls records, per target, whether the plugin used the HTTP
	// Transport to serve it; httpTargets are those that did.
	calls       map[string]bool
	httpTargets []target
	// exchangeTargets are the operations the plugin served with the
	// message Transport (Exchange, MLLP), found by the exchange check.
	exchangeTargets []target

	dead, deadIn string // why and in which check the plugin died
	current      string // the check being run

	records        problems
	recordsChecked int
}

func (k *kit) add(r Result) { k.rep.Results = append(k.rep.Results, r) }

// connID is the connection every check configures and uses.
const connID = "conformance"

// target is one operation on one resource.
type target struct {
	op       string // "read", "search", "create" or "update"
	resource unified.ResourceType
	// record is a write's body (writes.go).
	record []byte
	conn   string
	id     string
	params map[string]string
	limit  int
	token  string
}

func (t target) String() string {
	s := t.op + " " + string(t.resource)
	if t.op == "search" && len(t.params) > 0 {
		var names []string
		for n := range t.params {
			names = append(names, n)
		}
		slices.Sort(names)
		s += " (" + strings.Join(names, ", ") + ")"
	}
	return s
}

// outcome is what one call gave.
type outcome struct {
	rpcErr   error             // the call itself failed: the process died, the deadline passed, the protocol broke
	werr     *connectors.Error // the connector's typed error
	panicked bool
	records  [][]byte
	took     time.Duration
	call     *call
	// prefetchUsed: the call's prefetched source answer served the
	// connector's first request.
	prefetchUsed bool
}

// code names the outcome: "ok", "panic", "no answer" or an error code.
func (o outcome) code() string {
	switch {
	case o.rpcErr != nil:
		return "no answer"
	case o.panicked:
		return "panic"
	case o.werr != nil:
		return o.werr.Code.String()
	}
	return "ok"
}

// describe says what happened, for a problem line.
func (o outcome) describe() string {
	switch c := o.code(); c {
	case "no answer":
		return fmt.Sprintf("no answer (%v after %v)", o.rpcErr, o.took.Round(time.Millisecond))
	case "panic":
		return "a panic (recovered by the SDK: the call failed with internal)"
	case "ok":
		return fmt.Sprintf("success with %d record(s)", len(o.records))
	default:
		if p := o.werr.Param; p != "" {
			return c + " (" + clip(p) + ")"
		}
		return c
	}
}

func (o outcome) is(codes ...string) bool {
	c := o.code()
	for _, w := range codes {
		if c == w {
			return true
		}
	}
	return false
}

// do makes one call with script s answering its Transport requests.
func (k *kit) do(t target, label string, s script, timeout time.Duration) outcome {
	return k.doWith(t, label, s, nil, timeout)
}

// doWith makes one call with s answering its HTTP requests and xs its
// message exchanges.
func (k *kit) doWith(t target, label string, s script, xs xscript, timeout time.Duration) outcome {
	return k.call(t, label, s, xs, nil, timeout)
}

// call makes one call; pre is the source exchange the host made for it
// from the connection's template, or nil.
func (k *kit) call(t target, label string, s script, xs xscript, pre *connectors.Prefetched, timeout time.Duration) outcome {
	c := k.ft.open(label, s, xs)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	o := outcome{call: c}
	start := time.Now()
	conn := t.conn
	if conn == "" {
		conn = connID
	}
	var info connectors.CallInfo
	var err error
	switch t.op {
	case "read":
		var r *connectors.ReadResponse
		r, info, err = k.p.conn.Read(ctx, &connectors.ReadRequest{ConnectionID: conn, Resource: t.resource, ID: t.id, Transport: c}, pre)
		if err == nil {
			o.records = [][]byte{append([]byte(nil), r.Record...)}
			r.Release()
		}
	case "search":
		limit := t.limit
		if limit == 0 {
			limit = 10
		}
		var r *connectors.SearchResponse
		r, info, err = k.p.conn.Search(ctx, &connectors.SearchRequest{ConnectionID: conn, Resource: t.resource,
			Params: t.params, Limit: limit, PageToken: t.token, Transport: c}, pre)
		if err == nil {
			for _, rec := range r.Records {
				o.records = append(o.records, append([]byte(nil), rec...))
			}
			r.Release()
			if len(o.records) > limit {
				k.records.add("%s: %d records for a limit of %d", label, len(o.records), limit)
			}
		}
	case "create", "update":
		c.writes = true
		o.records, info, err = k.write(ctx, t, conn, c)
	}
	o.panicked, o.prefetchUsed = info.Panicked, info.PrefetchUsed
	var ce *connectors.Error
	switch {
	case err == nil:
	case errors.As(err, &ce) && !info.Panicked:
		o.werr = ce
	case info.Panicked:
		o.werr = &connectors.Error{Code: connectors.CodeInternal}
	default:
		o.rpcErr = err
	}
	o.took = time.Since(start)
	if o.rpcErr != nil && k.dead == "" {
		// A crash shows as a failed call; give the process a moment to be
		// reaped so the crash is told apart from a slow answer.
		select {
		case <-k.p.done:
		case <-time.After(100 * time.Millisecond):
		}
		if k.p.exited() {
			k.dead, k.deadIn = fmt.Sprintf("%s: the plugin process died%s", label, k.p.stderr.excerpt()), k.current
		}
	}
	if t.conn == "" || t.conn == connID {
		for i, rec := range o.records {
			k.recordsChecked++
			if err := recordcheck.Record(t.resource, connID, false, rec); err != nil {
				k.records.add("%s: record %d: %v", label, i, err)
			}
		}
	}
	return o
}

// sampleValue is a plausible value for a search parameter, in the form the
// host hands it to connectors (standard filters normalised).
func sampleValue(name string) string {
	switch name {
	case unified.FilterPatientID:
		return "conformance-patient-1"
	case unified.FilterUpdatedGTE, unified.FilterDateGTE:
		return "2020-01-01"
	case unified.FilterDateLT:
		return "2030-01-01"
	case unified.FilterCode:
		return unified.SystemLOINC + "|8867-4"
	case unified.FilterCategory:
		return "vital-signs"
	case unified.FilterStatus:
		return "final"
	}
	switch {
	case strings.Contains(name, "date"):
		return "1970-01-01"
	case strings.Contains(name, "identifier") || strings.HasSuffix(name, "_id"):
		return "conformance-1"
	}
	return "conformance"
}
