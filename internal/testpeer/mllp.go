//go:build unix

package testpeer

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The HL7 v2 peers: two MLLP servers nobody on this project wrote, each
// acting as an IHE Patient Demographics Supplier (ITI-21) with the
// responder logic of this file, so a test controls what they answer:
//
//   - python-hl7's MLLP server (hl7.mllp.start_hl7_server, Debian package
//     python3-hl7, run with /usr/bin/python3): it reads frames with asyncio
//     streams, so two frames in one write and frames split across writes
//     both work;
//   - @medplum/hl7's Hl7Connection (npm, 4.5.2) on a net.Server bound to
//     127.0.0.1 (its own Hl7Server binds every interface): it completes a
//     frame only when a read ends in 0x1C 0x0D, so of two frames in one
//     write it answers only the first, and a frame whose 0x1C and 0x0D
//     arrive in different reads is never answered.
//
// Both answer a QBP^Q22 with an RSP^K22 built by their own library from a
// PDQFixture: they match the query's QPD-3 parameters against the
// fixture's patients, page the matches by RCP-2 (or the fixture's page
// size) with a DSC continuation pointer, and answer an assigning authority
// outside the fixture's domains with MSA AE and HL7 error 204. They print
// each query as their library parsed it (PDQRequest), which is how a test
// checks that what Ferry encodes is read back as meant.

// mllpStartTimeout bounds a peer's start-up; both are normally listening in
// well under a second.
const mllpStartTimeout = 30 * time.Second

// PDQFixture is what a PDQ peer answers from.
type PDQFixture struct {
	// Patients are every patient the supplier knows, in answer order.
	Patients []PDQPatient `json:"patients"`
	// PageSize caps the patients of one answer (besides RCP-2); 0 means
	// RCP-2 alone decides, and all matches without one.
	PageSize int `json:"page_size,omitempty"`
	// IgnoreLimit makes the supplier answer with every match and no
	// continuation pointer, whatever RCP-2 asks, as suppliers without the
	// IHE Continuation Option do.
	IgnoreLimit bool `json:"ignore_limit,omitempty"`
	// Domains are the assigning authority namespaces the supplier knows;
	// a query naming another (QPD-8 or @PID.3.4.1) is answered with AE and
	// HL7 error 204. Empty: every domain is known.
	Domains []string `json:"domains,omitempty"`
	// Ack, when "AE" or "AR", answers every query with that negative
	// acknowledgement (MSA-1 and QAK-2) and HL7 error 207, application
	// internal error: a supplier that fails, or refuses, every query.
	Ack string `json:"ack,omitempty"`
	// DelayMS delays every answer, for timeout tests.
	DelayMS int `json:"delay_ms,omitempty"`
	// SplitReply sends every answer in three writes 20 ms apart, so the
	// client reads a frame split across reads.
	SplitReply bool `json:"split_reply,omitempty"`
}

// PDQPatient is one patient of a fixture, written into a PID segment: PID-3
// from IDs, PID-5 family^given[0]^given[1:]…^^^^L, PID-7, PID-8, PID-11
// street^^city^state^zip^country^H, PID-13 phone^PRN^PH, PID-29/30 deceased.
type PDQPatient struct {
	IDs       []PDQID  `json:"ids"`
	Family    string   `json:"family"`
	Given     []string `json:"given,omitempty"`
	BirthDate string   `json:"birth_date,omitempty"` // an HL7 date: 19700412
	Sex       string   `json:"sex,omitempty"`        // M, F, O, U …
	Street    string   `json:"street,omitempty"`
	City      string   `json:"city,omitempty"`
	State     string   `json:"state,omitempty"`
	Zip       string   `json:"zip,omitempty"`
	Country   string   `json:"country,omitempty"`
	Phone     string   `json:"phone,omitempty"`
	Deceased  string   `json:"deceased,omitempty"` // an HL7 date-time; sets PID-30 Y
}

// PDQID is one identifier of a fixture patient: PID-3 ID^^^NS&OID&ISO^Type.
type PDQID struct {
	ID        string `json:"id"`
	Namespace string `json:"ns,omitempty"`
	OID       string `json:"oid,omitempty"`
	Type      string `json:"type,omitempty"` // MR when empty
}

// PDQRequest is one query as the peer's HL7 library parsed it, values
// unescaped.
type PDQRequest struct {
	ControlID string            `json:"control_id"` // MSH-10
	QueryName string            `json:"query_name"` // QPD-1.1
	QueryTag  string            `json:"query_tag"`  // QPD-2
	Params    map[string]string `json:"params"`     // QPD-3: "@PID.5.1.1" → value
	Domains   []string          `json:"domains"`    // QPD-8 namespaces
	Limit     int               `json:"limit"`      // RCP-2.1
	Pointer   string            `json:"pointer"`    // DSC-1
}

// MLLPPeer is a running MLLP PDQ supplier on 127.0.0.1.
type MLLPPeer struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Name is "python-hl7" or "medplum-hl7".
	Name string

	cmd      *exec.Cmd
	stderr   *tailBuffer
	exited   chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	requests []PDQRequest
	changed  chan struct{} // closed and replaced on every new request
}

// StartPythonHL7 starts python-hl7's MLLP server with the PDQ responder,
// answering from fix. It fails the test when /usr/bin/python3 cannot
// import hl7.mllp: install the Debian package python3-hl7 (make test-deps).
//
// Run its tests alone with: go test ./internal/testpeer -run MLLP
func StartPythonHL7(t testing.TB, fix PDQFixture) *MLLPPeer {
	t.Helper()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import hl7.mllp").CombinedOutput(); err != nil {
		t.Fatalf("python-hl7 peer: %s cannot import hl7.mllp (%v: %s): apt-get install -y python3-hl7, or run 'make test-deps'", python, err, out)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "pdq_python.py")
	writeFile(t, script, pythonPDQ)
	return startMLLP(t, "python-hl7", dir, python, script, fixtureFile(t, dir, fix))
}

// StartMedplumHL7 starts @medplum/hl7's Hl7Connection with the PDQ
// responder, answering from fix. The package is taken from
// testdata/peers/medplum/node_modules, or from the node_modules directory
// that FERRY_MEDPLUM_HL7_MODULES names; the test fails when it is missing.
func StartMedplumHL7(t testing.TB, fix PDQFixture) *MLLPPeer {
	t.Helper()
	modules := os.Getenv("FERRY_MEDPLUM_HL7_MODULES")
	if modules == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatalf("medplum-hl7 peer: finding repository root: %v", err)
		}
		modules = filepath.Join(root, medplumDir, "node_modules")
	}
	if _, err := os.Stat(filepath.Join(modules, "@medplum", "hl7", "package.json")); err != nil {
		t.Logf("medplum-hl7 peer: %v", err)
		t.Fatalf("medplum-hl7 peer not installed: @medplum/hl7 4.5.2 must be in %s/package.json; run 'make test-deps'", medplumDir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("medplum-hl7 peer: node not found (%v): install Node.js 20, then run 'make test-deps'", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "pdq_medplum.cjs")
	writeFile(t, script, medplumPDQ)
	return startMLLP(t, "medplum-hl7", dir, node, script, modules, fixtureFile(t, dir, fix))
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fixtureFile(t testing.TB, dir string, fix PDQFixture) string {
	t.Helper()
	data, err := json.Marshal(fix)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "fixture.json")
	writeFile(t, name, string(data))
	return name
}

// startMLLP runs a peer that prints {"ready":true,"port":N} on stdout once
// listening, then one PDQRequest per line.
func startMLLP(t testing.TB, name, dir, bin string, args ...string) *MLLPPeer {
	t.Helper()
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatalf("%s peer: %v", name, err)
	}
	p := &MLLPPeer{
		Name:    name,
		stderr:  &tailBuffer{max: maxStderr},
		exited:  make(chan struct{}),
		changed: make(chan struct{}),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = stdoutW
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.WaitDelay = stopGrace
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		stdoutR.Close()
		stdoutW.Close()
		t.Fatalf("%s peer: starting %s: %v", name, bin, err)
	}
	stdoutW.Close()
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s peer stderr:\n%s", name, p.stderr.String())
		}
	})

	ready := make(chan int, 1)
	go func() {
		defer stdoutR.Close()
		r := bufio.NewReader(stdoutR)
		line, err := r.ReadBytes('\n')
		var rl readyLine
		if err != nil || json.Unmarshal(line, &rl) != nil || !rl.Ready || rl.Port <= 0 {
			close(ready)
			_, _ = io.Copy(io.Discard, r)
			return
		}
		ready <- rl.Port
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			var req PDQRequest
			if json.Unmarshal(line, &req) != nil {
				continue
			}
			p.mu.Lock()
			p.requests = append(p.requests, req)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	select {
	case port, ok := <-ready:
		if !ok {
			t.Fatalf("%s peer: no ready line", name)
		}
		p.Addr = "127.0.0.1:" + strconv.Itoa(port)
	case <-p.exited:
		t.Fatalf("%s peer exited during start-up (%v)", name, p.cmd.ProcessState)
	case <-time.After(mllpStartTimeout):
		t.Fatalf("%s peer: not ready after %s", name, mllpStartTimeout)
	}
	t.Logf("%s peer ready at %s in %s", name, p.Addr, time.Since(start).Round(time.Millisecond))
	return p
}

// Requests returns the queries received so far, oldest first.
func (p *MLLPPeer) Requests() []PDQRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PDQRequest(nil), p.requests...)
}

// WaitRequests waits until the peer has reported at least n queries (it
// reports each one just before answering it, on a pipe read concurrently),
// and returns them all. It fails the test after five seconds.
func (p *MLLPPeer) WaitRequests(t testing.TB, n int) []PDQRequest {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		reqs, changed := append([]PDQRequest(nil), p.requests...), p.changed
		p.mu.Unlock()
		if len(reqs) >= n {
			return reqs
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s peer: %d queries reported, want %d", p.Name, len(reqs), n)
		}
	}
}

// Stop stops the peer (SIGTERM to its process group, then SIGKILL after a
// grace period). Safe to call more than once; called when the test ends.
func (p *MLLPPeer) Stop() {
	p.stopOnce.Do(func() { stopGroup(p.cmd, p.exited) })
}
