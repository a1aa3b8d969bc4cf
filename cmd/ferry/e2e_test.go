package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/plugins/sandbox"
	"github.com/ferryhealth/ferry/unified"
)

// End-to-end: the real ferry binary, the real ferry-connector-fhir plugin
// binary, and a real FHIR server nobody here wrote (Medplum's router on
// 127.0.0.1). Run alone with `make build test-deps && go test ./cmd/ferry/`.

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries returns the folder holding ferry and ferry-connector-fhir:
// $FERRY_BIN when set (make test builds them first), else built here.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if d := os.Getenv("FERRY_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, binErr = os.MkdirTemp("", "ferry-e2e-bin")
		if binErr != nil {
			return
		}
		for _, b := range []struct{ out, pkg string }{
			{"ferry", "."}, {"ferry-connector-fhir", "../ferry-connector-fhir"}, {"ferry-connector-hl7v2", "../ferry-connector-hl7v2"},
		} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, b.out), b.pkg).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// proc is a ferry process under test with its stdout (audit) and stderr
// (logs) captured.
type proc struct {
	cmd    *exec.Cmd
	stdout *lockedBuf
	stderr *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startFerry(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{stdout: &lockedBuf{}, stderr: &lockedBuf{}}
	p.cmd = exec.Command(filepath.Join(binaries(t), "ferry"), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("ferry stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// freePort is a loopback address nothing listens on now, never one handed
// out before in this test binary (the peers' ports included).
func freePort(t *testing.T) string {
	t.Helper()
	return testpeer.FreeAddr(t)
}

func waitHTTP(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within %v", url, want, within)
}

func get(t *testing.T, url, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func writeConfig(t *testing.T, sourceURL, listen, admin string) string {
	t.Helper()
	sum, err := fileSHA256(filepath.Join(binaries(t), "ferry-connector-fhir"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(demoConfig(listen, admin, filepath.Join(binaries(t), "ferry-connector-fhir"), sum, sourceURL), &cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ferry.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeAgainstMedplum(t *testing.T) {
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	listen, admin := freePort(t), freePort(t)
	cfgPath := writeConfig(t, peer.BaseURL, listen, admin)
	f := startFerry(t, "serve", "--config", cfgPath)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	base := "http://" + listen + "/v1/demo"
	requireSandboxed(t, f, admin, "fhir")

	status, body := get(t, base+"/patients?limit=2", DemoAPIKey)
	if status != 200 {
		t.Fatalf("search: %d %s", status, body)
	}
	var list unified.List[unified.Patient]
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != 2 {
		t.Fatalf("search body: %v %s", err, body)
	}

	// Every patient Medplum holds reads back through Ferry, mapped: the
	// family name matches what Medplum itself says.
	var canaries []string
	for _, id := range peer.PatientIDs {
		status, body := get(t, base+"/patients/"+id, DemoAPIKey)
		var p unified.Patient
		if status != 200 || json.Unmarshal(body, &p) != nil || p.ID != id {
			t.Fatalf("read %s: %d %s", id, status, body)
		}
		_, fb := get(t, peer.BaseURL+"/Patient/"+id, "")
		var fp struct {
			Name []struct {
				Family string `json:"family"`
			} `json:"name"`
			BirthDate string `json:"birthDate"`
		}
		if err := json.Unmarshal(fb, &fp); err != nil || len(fp.Name) == 0 || len(p.Names) == 0 || p.Names[0].Family != fp.Name[0].Family || p.BirthDate != fp.BirthDate {
			t.Fatalf("mapping differs from source: ferry %+v, medplum %s", p, fb)
		}
		canaries = append(canaries, id, p.BirthDate, p.Names[0].Family)
		canaries = append(canaries, p.Names[0].Given...)

		// Search by that family name finds the patient.
		status, body = get(t, base+"/patients?name="+p.Names[0].Family, DemoAPIKey)
		if status != 200 || !bytes.Contains(body, []byte(`"id":"`+id+`"`)) {
			t.Fatalf("search by name: %d %s", status, body)
		}
	}
	status, _ = get(t, base+"/patients/not-there", DemoAPIKey)
	if status != 404 {
		t.Fatalf("unknown id: %d", status)
	}

	// Audit: one event per request so far, none carrying PHI; logs neither.
	want := 1 + 2*len(peer.PatientIDs) + 1
	waitFor(t, func() bool { return strings.Count(f.stdout.String(), "\n") >= want }, 5*time.Second)
	if n := strings.Count(f.stdout.String(), "\n"); n != want {
		t.Fatalf("%d audit events for %d requests", n, want)
	}
	for _, out := range []string{f.stdout.String(), f.stderr.String()} {
		for _, c := range canaries {
			if len(c) >= 4 && strings.Contains(out, c) {
				t.Fatalf("PHI %q in ferry output", c)
			}
		}
	}

	// Medplum saw Ferry's request id on the calls made for it.
	seen := peer.Requests(t)
	if len(seen) == 0 || seen[len(seen)-1].RequestID == "" {
		t.Fatalf("source did not receive X-Request-Id: %+v", seen)
	}
}

func waitFor(t *testing.T, cond func() bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		rest := string(b[bytes.LastIndexByte(b, ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// requireSandboxed checks that the plugin of kind runs in the full kernel
// sandbox, as /readyz, /metrics and the startup log say and as the kernel's
// own view of the process (/proc/<pid>/status) shows. Every e2e test runs
// its plugins this way: it is the default.
func requireSandboxed(t *testing.T, f *proc, admin, kind string) {
	t.Helper()
	if _, err := sandbox.Probe().Plan(sandbox.ModeRequired); err != nil {
		t.Logf("this kernel cannot run the full sandbox: %v", err)
		return
	}
	_, body := get(t, "http://"+admin+"/readyz", "")
	if !strings.Contains(string(body), "plugin "+kind+" sandbox: full: landlock") {
		t.Fatalf("/readyz does not report the %s plugin's sandbox as full:\n%s", kind, body)
	}
	_, metrics := get(t, "http://"+admin+"/metrics", "")
	if !regexp.MustCompile(`ferry_plugin_sandbox\{landlock_abi="\d+",level="full",plugin="` + kind + `",seccomp="true"\} 1`).Match(metrics) {
		t.Fatalf("no ferry_plugin_sandbox series at level full for %s", kind)
	}
	if !strings.Contains(f.stderr.String(), `"msg":"plugin sandbox","plugin":"`+kind+`","level":"full"`) {
		t.Fatalf("the startup log does not give the %s plugin's sandbox:\n%s", kind, f.stderr.String())
	}
	var found bool
	for _, pid := range childPIDs(t, f.cmd.Process.Pid) {
		status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err != nil {
			continue
		}
		found = true
		for _, line := range []string{"NoNewPrivs:\t1\n", "Seccomp:\t2\n", "CapEff:\t0000000000000000\n"} {
			if !strings.Contains(string(status), line) {
				t.Fatalf("plugin %d: /proc/pid/status lacks %q", pid, strings.TrimSpace(line))
			}
		}
	}
	if !found {
		t.Fatal("no plugin process under ferry")
	}
}

// TestHostDeathLeavesNoOrphan: SIGKILL of ferry itself (no chance to stop
// its plugins) takes the plugin with it: the kernel's parent-death signal.
func TestHostDeathLeavesNoOrphan(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	f := startFerry(t, "serve", "--config", writeConfig(t, "http://127.0.0.1:9/fhir/R4", listen, admin))
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	kids := childPIDs(t, f.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("want one plugin process, got %v", kids)
	}
	// The process only, not its group: the test's cleanup kills the group.
	if err := f.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(kids[0]) {
		if time.Now().After(deadline) {
			syscall.Kill(kids[0], syscall.SIGKILL)
			t.Fatalf("plugin %d outlived its host", kids[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting for a reaper does not).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// TestPluginKillDuringTraffic: SIGKILL the plugin while requests are in
// flight. In-flight requests end with 502 problem+json (never a hang), and
// requests succeed again within 2 seconds.
func TestPluginKillDuringTraffic(t *testing.T) {
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	listen, admin := freePort(t), freePort(t)
	f := startFerry(t, "serve", "--config", writeConfig(t, peer.BaseURL, listen, admin))
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	url := "http://" + listen + "/v1/demo/patients?limit=20"

	kids := childPIDs(t, f.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("want one plugin process, got %v", kids)
	}

	type outcome struct {
		status int
		code   unified.Code
		took   time.Duration
		at     time.Time
	}
	var mu sync.Mutex
	var outcomes []outcome
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 12 * time.Second}
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("request failed at transport level: %v", err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				o := outcome{status: resp.StatusCode, took: time.Since(start), at: time.Now()}
				if resp.StatusCode != 200 {
					var p unified.Problem
					if json.Unmarshal(b, &p) != nil || resp.Header.Get("Content-Type") != "application/problem+json" {
						t.Errorf("non-200 without problem+json: %d %s", resp.StatusCode, b)
					}
					o.code = p.Code
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	killedAt := time.Now()
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	var failed, okAfter int
	var lastFail, firstOKAfter time.Time
	for _, o := range outcomes {
		if o.took > 2*time.Second {
			t.Errorf("a request took %v", o.took)
		}
		if o.status != 200 {
			failed++
			if o.status != 502 && o.status != 503 {
				t.Errorf("failure status %d (%s), want 502/503", o.status, o.code)
			}
			if o.at.After(lastFail) {
				lastFail = o.at
			}
			continue
		}
		if o.at.After(killedAt) {
			okAfter++
			if firstOKAfter.IsZero() || o.at.Before(firstOKAfter) {
				firstOKAfter = o.at
			}
		}
	}
	t.Logf("%d requests, %d failed, last failure %v after the kill, first success after %v",
		len(outcomes), failed, lastFail.Sub(killedAt).Round(time.Millisecond), firstOKAfter.Sub(killedAt).Round(time.Millisecond))
	if okAfter == 0 {
		t.Fatal("no request succeeded after the kill")
	}
	if !lastFail.IsZero() && lastFail.Sub(killedAt) > 2*time.Second {
		t.Fatalf("requests still failing %v after the kill", lastFail.Sub(killedAt))
	}
	if kids2 := childPIDs(t, f.cmd.Process.Pid); len(kids2) != 1 || kids2[0] == kids[0] {
		t.Fatalf("plugin not restarted: before %v after %v", kids, kids2)
	}
}

func TestDemo(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	f := startFerry(t, "demo", "--listen", listen, "--admin-listen", admin)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	status, body := get(t, "http://"+listen+"/v1/demo/patients?limit=5", DemoAPIKey)
	var list unified.List[unified.Patient]
	if status != 200 || json.Unmarshal(body, &list) != nil || len(list.Data) != 5 {
		t.Fatalf("demo search: %d %s", status, body)
	}
	id := list.Data[0].ID
	status, body = get(t, "http://"+listen+"/v1/demo/patients/"+id, DemoAPIKey)
	if status != 200 || !bytes.Contains(body, []byte(`"id":"`+id+`"`)) {
		t.Fatalf("demo read: %d %s", status, body)
	}
	waitFor(t, func() bool { return strings.Count(f.stdout.String(), "\n") >= 2 }, 5*time.Second)
	sc := bufio.NewScanner(strings.NewReader(f.stdout.String()))
	n := 0
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not an audit event: %q", sc.Text())
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d audit events for 2 requests", n)
	}
	out := f.stdout.String()
	for _, p := range list.Data {
		for _, c := range append([]string{p.ID, p.BirthDate, p.Names[0].Family}, p.Names[0].Given...) {
			if strings.Contains(out, c) {
				t.Fatalf("PHI %q in the demo's audit output", c)
			}
		}
	}
	if !strings.Contains(f.stderr.String(), "curl") {
		t.Fatal("demo printed no curl commands")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{
  "node": {"listen": "0.0.0.0:8080"},
  "plugins": [{"kind": "fhir", "path": "x", "sha256": "nothex"}],
  "tenants": [{"id": "t1", "secrets": {"provider": "env"}, "audit": {"key_ref": "literal:k"}, "colour": "red"}],
  "clients": [],
  "connections": [{"id": "c1", "tenant": "t2", "connector": "hl7", "base_url": "ftp://x", "auth": {"kind": "none"}}]
}`), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	// Unknown fields stop before semantic validation; fix it and see the rest.
	if !strings.Contains(out.String(), `$.tenants[0].colour`) {
		t.Fatalf("unknown field not reported with its path:\n%s", out.String())
	}
	os.WriteFile(bad, bytes.Replace(mustRead(t, bad), []byte(`, "colour": "red"`), nil, 1), 0o600)
	out.Reset()
	if code := run([]string{"check", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"$.node.listen", "$.plugins[0].sha256", "$.tenants[0].secrets.provider", "$.tenants[0].audit.key_ref",
		"$.connections[0].tenant", "$.connections[0].connector", "$.connections[0].base_url",
	} {
		if !strings.Contains(out.String(), want+":") {
			t.Errorf("missing problem at %s:\n%s", want, out.String())
		}
	}
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, demoConfig("127.0.0.1:1", "127.0.0.1:2", "/bin/true", strings.Repeat("a", 64), "http://127.0.0.1:3/fhir"), 0o600)
	out.Reset()
	if code := run([]string{"check", "--config", good}, &out, &errb); code != 0 {
		t.Fatalf("demo config rejected: %s", out.String())
	}
	// check says the sandbox each plugin gets here, and flags an opt-out.
	if !strings.Contains(out.String(), "plugin sandbox: this kernel: ") || !strings.Contains(out.String(), "plugin sandbox: fhir: ") {
		t.Fatalf("check did not report the plugin sandbox:\n%s", out.String())
	}
	os.WriteFile(good, bytes.Replace(mustRead(t, good), []byte(`"sha256":`), []byte(`"sandbox":"off","sha256":`), 1), 0o600)
	out.Reset()
	if code := run([]string{"check", "--config", good}, &out, &errb); code != 0 || !strings.Contains(out.String(), "warning: $.plugins[0].sandbox: plugin \"fhir\" runs WITHOUT the kernel sandbox") {
		t.Fatalf("sandbox off not flagged (exit %d):\n%s", code, out.String())
	}
	if code := run([]string{"check"}, &out, &errb); code != 2 {
		t.Fatalf("usage error exit %d", code)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), fmt.Sprintf("protocol v%d", connectors.ProtocolVersion)) {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}
