//go:build unix

package testpeer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// medplumDir is the peer's folder, relative to the repository root.
	medplumDir = "testdata/peers/medplum"

	// medplumStartTimeout bounds start-up. The peer is normally ready in
	// 2-3 s; the margin covers loaded CI machines and large bundles.
	medplumStartTimeout = 60 * time.Second

	// stopGrace is how long the peer gets to exit after SIGTERM before the
	// whole process group is killed.
	stopGrace = 5 * time.Second

	// maxStderr caps the peer's stderr kept for failure reports, so a chatty
	// peer in a long test cannot grow memory without bound.
	maxStderr = 64 << 10
)

// SyntheaBundles returns the Synthea transaction Bundles (paths relative to
// the repository root) that StartMedplum loads when MedplumOptions.Bundles is
// nil. Each holds one patient. It returns a fresh slice on every call so
// callers may modify it.
func SyntheaBundles() []string {
	return []string{
		"testdata/synthea/Michael_Kihn_376f9fc0-ecd8-468a-ad93-3534a14561a3.json",
		"testdata/synthea/Joie_Morissette_c47db034-eb1c-4100-9448-4d4b3cb6535c.json",
		"testdata/synthea/Royal_DuBuque_6d750ddc-ee20-40df-bf83-30461dc641e4.json",
	}
}

// AllSyntheaBundles returns every Synthea bundle under testdata/synthea (30
// patients, about 25 MB), as paths relative to the repository root, sorted.
func AllSyntheaBundles(t testing.TB) []string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "testdata", "synthea", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Synthea bundles under testdata/synthea (%v)", err)
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Join("testdata", "synthea", filepath.Base(f))
	}
	return out
}

// MedplumOptions configures StartMedplum. The zero value starts a peer with
// the Synthea bundles loaded, `next` links on search results and no auth.
type MedplumOptions struct {
	// Bundles are FHIR transaction Bundles to load before the peer reports
	// ready, as paths relative to the repository root (absolute paths are
	// used as they are). nil loads SyntheaBundles(); a non-nil empty slice
	// starts an empty server.
	Bundles []string

	// Paging selects how searchset Bundles page: "link" (the default) adds
	// `self` and `next` links as most FHIR servers do; "offset" leaves links
	// out, as Medplum itself does, so clients must page with _offset.
	Paging string

	// RequireAuth, when not empty, makes every FHIR request whose
	// Authorization header is not exactly this value fail with 401.
	RequireAuth string
}

// Medplum is a running FHIR R4 peer: Medplum's FHIR router over an in-memory
// repository behind a small Node HTTP front (testdata/peers/medplum).
type Medplum struct {
	// BaseURL is the FHIR base, http://127.0.0.1:PORT/fhir/R4, without a
	// trailing slash.
	BaseURL string

	// PatientIDs are the server-assigned ids of the Patients loaded from
	// the bundles, in load order. Synthea's own ids are not kept: FHIR
	// servers assign new ids to POSTed resources.
	PatientIDs []string

	// rootURL is http://127.0.0.1:PORT, where the /__peer endpoints live.
	rootURL string
	client  *http.Client
	cmd     *exec.Cmd
	stderr  *tailBuffer
	// exited is closed once the process has been reaped.
	exited   chan struct{}
	stopOnce sync.Once
}

// PeerRequest is one HTTP request the peer received (outside /__peer).
type PeerRequest struct {
	Method string `json:"method"`
	// Path is the request target as received: path plus query.
	Path string `json:"path"`
	// Authorization and RequestID hold the Authorization and X-Request-Id
	// headers; they are empty when the header was absent.
	Authorization string `json:"authorization"`
	RequestID     string `json:"requestId"`
	// Traceparent is the W3C trace context header, empty when absent.
	Traceparent string `json:"traceparent"`
	// Status is the HTTP status the peer answered with (0 while the
	// response was still being written).
	Status int `json:"status"`
}

// readyLine is the single line the peer prints on stdout once it serves.
type readyLine struct {
	Ready    bool     `json:"ready"`
	Port     int      `json:"port"`
	Patients []string `json:"patients"`
}

// StartMedplum starts a Medplum FHIR R4 peer on 127.0.0.1 and returns once it
// serves requests. The peer is stopped when the test ends. It fails the test,
// rather than skipping it, when Node or the peer's npm packages are missing.
func StartMedplum(t testing.TB, opts MedplumOptions) *Medplum {
	t.Helper()

	root, err := repoRoot()
	if err != nil {
		t.Fatalf("medplum peer: finding repository root: %v", err)
	}
	dir := filepath.Join(root, medplumDir)

	// Check for the router package, not just node_modules, so an
	// interrupted install is reported the same way as a missing one.
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@medplum", "fhir-router", "package.json")); err != nil {
		t.Logf("medplum peer: %v", err)
		t.Fatalf("medplum peer not installed: run 'make test-deps'")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("medplum peer: node not found (%v): install Node.js 20, then run 'make test-deps'", err)
	}

	paging := opts.Paging
	if paging == "" {
		paging = "link"
	}
	if paging != "link" && paging != "offset" {
		t.Fatalf("medplum peer: Paging must be \"link\" or \"offset\", not %q", opts.Paging)
	}
	args := []string{filepath.Join(dir, "server.mjs"), "--port", "0", "--paging", paging}
	if opts.RequireAuth != "" {
		args = append(args, "--require-auth", opts.RequireAuth)
	}
	bundles := opts.Bundles
	if bundles == nil {
		bundles = SyntheaBundles()
	}
	for _, b := range bundles {
		if !filepath.IsAbs(b) {
			b = filepath.Join(root, b)
		}
		args = append(args, "--load", b)
	}

	// Our own pipe rather than cmd.StdoutPipe: Wait closes the latter when
	// the process exits, which would race with reading the ready line.
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatalf("medplum peer: %v", err)
	}

	m := &Medplum{
		client: &http.Client{Timeout: 30 * time.Second},
		stderr: &tailBuffer{max: maxStderr},
		exited: make(chan struct{}),
	}
	m.cmd = exec.Command(node, args...)
	m.cmd.Dir = dir
	m.cmd.Stdout = stdoutW
	m.cmd.Stderr = m.stderr
	// A process group of its own lets Stop kill the peer and anything it
	// spawned in one signal, and keeps a terminal's Ctrl-C from reaching
	// it before the test's cleanup runs.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Do not let a grandchild that inherited stderr keep Wait blocked.
	m.cmd.WaitDelay = stopGrace

	start := time.Now()
	if err := m.cmd.Start(); err != nil {
		stdoutR.Close()
		stdoutW.Close()
		t.Fatalf("medplum peer: starting node: %v", err)
	}
	stdoutW.Close() // the child holds its own copy
	go func() {
		_ = m.cmd.Wait()
		close(m.exited)
	}()
	// Registered before waiting for readiness so that a failed start-up
	// (t.Fatalf below) still kills the peer.
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			m.logStderr(t)
		}
	})

	lines := make(chan string, 1)
	readErr := make(chan error, 1)
	go func() {
		// This goroutine owns the read end until the peer exits: closing
		// it earlier would make any later write by the peer fail (EPIPE).
		defer stdoutR.Close()
		r := bufio.NewReader(stdoutR)
		line, err := r.ReadString('\n')
		if err != nil {
			readErr <- err
			return
		}
		lines <- line
		// The peer prints nothing else, but keep draining so a stray
		// write can never block it on a full pipe.
		_, _ = r.WriteTo(io.Discard)
	}()

	var ready readyLine
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &ready); err != nil || !ready.Ready || ready.Port <= 0 {
			t.Fatalf("medplum peer: unexpected ready line %q (err %v)", line, err)
		}
	case err := <-readErr:
		// Usually EOF: the peer exited, e.g. because a bundle failed to
		// load. Its stderr (logged by the cleanup) says why.
		select {
		case <-m.exited:
			t.Fatalf("medplum peer exited during start-up (%v)", m.cmd.ProcessState)
		case <-time.After(stopGrace):
			t.Fatalf("medplum peer closed stdout without a ready line: %v", err)
		}
	case <-time.After(medplumStartTimeout):
		t.Fatalf("medplum peer: not ready after %s", medplumStartTimeout)
	}

	m.rootURL = "http://127.0.0.1:" + strconv.Itoa(ready.Port)
	m.BaseURL = m.rootURL + "/fhir/R4"
	m.PatientIDs = ready.Patients
	t.Logf("medplum peer ready at %s in %s (%d patients)", m.BaseURL, time.Since(start).Round(time.Millisecond), len(m.PatientIDs))
	return m
}

// Stop stops the peer: SIGTERM to its process group, then SIGKILL if it has
// not exited within a few seconds. It is safe to call more than once and is
// called automatically when the test ends.
func (m *Medplum) Stop() {
	m.stopOnce.Do(func() { stopGroup(m.cmd, m.exited) })
}

// Requests returns the requests the peer has received since it started or
// since the last ResetRequests, oldest first (the peer keeps the latest
// 10,000). Calls to the /__peer endpoints are not recorded.
func (m *Medplum) Requests(t testing.TB) []PeerRequest {
	t.Helper()
	resp, err := m.client.Get(m.rootURL + "/__peer/requests")
	if err != nil {
		t.Fatalf("medplum peer: fetching request log: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("medplum peer: fetching request log: %s", resp.Status)
	}
	var reqs []PeerRequest
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		t.Fatalf("medplum peer: decoding request log: %v", err)
	}
	return reqs
}

// ResetRequests clears the peer's request log.
func (m *Medplum) ResetRequests(t testing.TB) {
	t.Helper()
	resp, err := m.client.Post(m.rootURL+"/__peer/reset-requests", "", nil)
	if err != nil {
		t.Fatalf("medplum peer: resetting request log: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("medplum peer: resetting request log: %s", resp.Status)
	}
}

// logStderr relays what the peer wrote to stderr. Only called for failed
// tests: on success it is noise.
func (m *Medplum) logStderr(t testing.TB) {
	t.Helper()
	if out := m.stderr.String(); out != "" {
		t.Logf("medplum peer stderr:\n%s", out)
	} else {
		t.Logf("medplum peer stderr: (empty)")
	}
}

// tailBuffer is a goroutine-safe writer that keeps the last max bytes
// written; exec copies the child's stderr into it from its own goroutine.
type tailBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
		b.truncated = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return fmt.Sprintf("[... earlier output dropped ...]\n%s", b.buf.String())
	}
	return b.buf.String()
}
