package proxy

// The fault-injection suite of docs/resilience.md: every fault a source or a
// plugin can throw at Ferry, each against a controllable source started on
// 127.0.0.1 (and, for plugin faults, the real test plugin process of
// plugins/internal/testplugin, built here). For each fault it checks the
// status and problem code the client gets, that no request outlives its
// deadline by more than 100 ms, that no goroutine or file descriptor is
// left behind once the environment is gone, and how long the connection
// takes to serve again once the fault is healed. With -v it prints the
// matrix that docs/resilience.md reproduces.
//
// Alone: go test -run TestFaultMatrix -v ./proxy/

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/plugins"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/unified"
)

// overshootLimit is how far past its deadline a request may be answered.
const overshootLimit = 100 * time.Millisecond

// faultSource is a FHIR source whose behaviour the test switches at run
// time. It serves Patient reads; the mode decides how.
type faultSource struct {
	srv   *httptest.Server
	mode  atomic.Value // string
	calls atomic.Int64
}

func newFaultSource(t *testing.T) *faultSource {
	f := &faultSource{}
	f.mode.Store("ok")
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *faultSource) set(mode string) { f.mode.Store(mode) }

func (f *faultSource) url() string { return f.srv.URL + "/fhir" }

const patientJSON = `{"resourceType":"Patient","id":"p1","name":[{"family":"Fault","given":["Test"]}],"gender":"unknown"}`

func (f *faultSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	ok := func() {
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = io.WriteString(w, patientJSON)
	}
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-r.Context().Done():
			return false
		}
	}
	switch f.mode.Load().(string) {
	case "ok":
		ok()
	case "latency":
		if wait(2 * time.Second) {
			ok()
		}
	case "reset_once":
		if n%2 == 1 {
			c, _, _ := w.(http.Hijacker).Hijack()
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
			return
		}
		ok()
	case "slow_300ms":
		if wait(300 * time.Millisecond) {
			ok()
		}
	case "not_found":
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome"}`)
	case "error_500":
		w.WriteHeader(500)
		_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome"}`)
	case "error_rate_50":
		if n%2 == 0 {
			w.WriteHeader(500)
			return
		}
		ok()
	case "reset":
		c, _, _ := w.(http.Hijacker).Hijack()
		_ = c.(*net.TCPConn).SetLinger(0) // RST, not FIN
		_ = c.Close()
	case "truncated":
		c, buf, _ := w.(http.Hijacker).Hijack()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 400\r\n\r\n" + patientJSON[:40])
		_ = buf.Flush()
		_ = c.Close()
	case "invalid_json":
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = io.WriteString(w, `{"resourceType":"Patient","id":`)
	case "429":
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(429)
	case "429_long":
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(429)
	case "503":
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(503)
	case "slow_body":
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("Content-Length", strconv.Itoa(len(patientJSON)))
		w.WriteHeader(200)
		for i := 0; i < len(patientJSON); i++ {
			_, _ = w.Write([]byte{patientJSON[i]})
			w.(http.Flusher).Flush()
			if !wait(100 * time.Millisecond) {
				return
			}
		}
	case "rate_headers":
		w.Header().Set("X-RateLimit-Limit", "100")
		w.Header().Set("X-RateLimit-Remaining", "42")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(30*time.Second).Unix(), 10))
		ok()
	default:
		w.WriteHeader(418)
	}
}

// fenv is one gateway under test.
type fenv struct {
	base   string
	srv    *Server
	client *http.Client
	stop   func() // shuts the gateway down; also run by t.Cleanup
}

// conn returns the config map of connection i, for a mutate function.
func connCfg(c map[string]any, i int) map[string]any {
	return c["connections"].([]any)[i].(map[string]any)
}

// startGateway serves cfg with conns (the FHIR connector in-process when
// nil), its audit events recorded. Source keep-alives idle out fast, so a
// finished test leaves no connection behind for the leak check to mistake
// for a leak.
func startGateway(t *testing.T, cfgJSON []byte, conns Connectors) *fenv {
	t.Helper()
	return startAuditedGateway(t, cfgJSON, conns, &auditlogtest.Recorder{})
}

// startAuditedGateway is startGateway with audit as the gateway's audit
// trail.
func startAuditedGateway(t *testing.T, cfgJSON []byte, conns Connectors, audit Auditor) *fenv {
	t.Helper()
	cfg, probs := config.Parse(cfgJSON, "")
	if len(probs) > 0 {
		t.Fatalf("config: %v", probs)
	}
	ctx := context.Background()
	if conns == nil {
		var err error
		if conns, err = NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New()}); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(ctx, Options{Config: cfg, ConfigHash: "cfg-hash", Connectors: conns, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	srv.sources.SetIdleTimeout(100 * time.Millisecond)
	srv.api.MaxIdleWorkerDuration = 100 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeAPI(ln, nil) }()
	e := &fenv{base: "http://" + ln.Addr().String(), srv: srv,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			e.client.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			<-done
		})
	}
	t.Cleanup(e.stop)
	return e
}

// reply is one answer, as a client sees it.
type reply struct {
	status     int
	code       unified.Code
	retryAfter string
	header     http.Header
	elapsed    time.Duration
	// overshoot is how long after its deadline Ferry answered (negative:
	// before), by Ferry's own clock (Server-Timing: proxy + upstream, from
	// the request's arrival to its answer): on a loaded machine with -race,
	// the test client's own scheduling must not count against Ferry.
	overshoot time.Duration
	served    time.Duration // by Ferry's clock
}

// serverTime sums the durations of a Server-Timing header.
func serverTime(h string) time.Duration {
	var total float64
	for _, part := range strings.Split(h, ",") {
		_, dur, ok := strings.Cut(part, "dur=")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(dur), 64)
		if err == nil {
			total += f
		}
	}
	return time.Duration(total * float64(time.Millisecond))
}

// get sends a GET with the API key of client "demo-app". deadline is the
// request's deadline as Ferry should apply it.
func (e *fenv) get(t *testing.T, path string, deadline time.Duration, hdr ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", e.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+keyDemo)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return reply{}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), header: resp.Header, elapsed: time.Since(start)}
	r.served = serverTime(resp.Header.Get("Server-Timing"))
	r.overshoot = r.served - deadline
	if resp.StatusCode >= 400 {
		var p unified.Problem
		if err := json.Unmarshal(body, &p); err != nil || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d is not a problem: %s", path, resp.StatusCode, body)
		}
		r.code = p.Code
	}
	return r
}

// row is one line of the matrix.
type row struct {
	fault      string
	deadline   time.Duration
	outcome    string
	overshoot  time.Duration
	recovery   time.Duration
	goroutines int
	fds        int
}

type matrix struct {
	mu   sync.Mutex
	rows []row
}

func (m *matrix) add(r row) {
	m.mu.Lock()
	m.rows = append(m.rows, r)
	m.mu.Unlock()
}

func (m *matrix) print(t *testing.T) {
	var b strings.Builder
	b.WriteString("\n| fault | client gets | slowest answer (Ferry's clock) / deadline | recovery after heal | goroutines / fds after |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range m.rows {
		if r.fault == "" {
			continue // not run (-run filter)
		}
		rec := "—"
		if r.recovery > 0 {
			rec = r.recovery.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s / %s | %s | %+d / %+d |\n", r.fault, r.outcome,
			(r.deadline + r.overshoot).Round(time.Millisecond), r.deadline, rec, r.goroutines, r.fds)
	}
	t.Log(b.String())
}

// stacks is every goroutine's stack, to name a leak.
func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// settledLeaks waits (up to 5 s) for the goroutine and descriptor counts to
// come back to where they were, and returns what is left over.
func settledLeaks(g0, fd0 int) (int, int) {
	var g, fd int
	for end := time.Now().Add(5 * time.Second); ; {
		runtime.GC()
		g, fd = runtime.NumGoroutine(), openFDs()
		if g <= g0 && fd <= fd0 || time.Now().After(end) {
			return g - g0, fd - fd0
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// faultCase is one fault: run injects it and checks what clients get;
// heal, when set, removes it, after which the connection must serve again.
type faultCase struct {
	name string
	// healDown: the fault is connection demo2's dead port; healing it is
	// listening there again.
	healDown bool
	run      func(t *testing.T, e *fenv, src *faultSource) (outcome string, overshoot time.Duration)
	heal     func(src *faultSource)
}

// inProcessConfig is the gateway of the source faults: connection "demo" on
// the fault source, with a 1 s deadline and a breaker that opens for 500 ms.
func inProcessConfig(src *faultSource, extra func(map[string]any)) []byte {
	return testConfig(src.url(), func(c map[string]any) {
		cn := connCfg(c, 0)
		cn["timeout"] = "1s"
		cn["breaker"] = map[string]any{"open_for": "500ms"}
		cn["limits"] = map[string]any{"max_timeout": "2s"}
		if extra != nil {
			extra(c)
		}
	})
}

// expect checks a reply against a status and code, and that a 503 says
// when to come back.
func expect(t *testing.T, r reply, status int, code unified.Code) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Errorf("got %d %s, want %d %s", r.status, r.code, status, code)
	}
	if (status == 503 || status == 429) && r.retryAfter == "" {
		t.Errorf("%d %s without Retry-After", r.status, r.code)
	}
}

// untilBreakerOpens sends reads until the breaker answers, checking each
// answer before it is either want or the breaker's, and returns the worst
// overshoot. The breaker must open within limit requests.
func untilBreakerOpens(t *testing.T, e *fenv, status int, code unified.Code, limit int) time.Duration {
	t.Helper()
	worst := time.Duration(-1 << 62)
	for i := 0; i < limit; i++ {
		r := e.get(t, "/v1/demo/patients/p1", time.Second)
		worst = max(worst, r.overshoot)
		if r.status == 503 && r.code == unified.CodeSourceUnavailable && e.srv.tab.Load().connections["demo"].guard.State() != 0 && i > 0 {
			expect(t, r, 503, unified.CodeSourceUnavailable)
			if ra, _ := strconv.Atoi(r.retryAfter); ra < 1 {
				t.Errorf("open breaker: Retry-After %q", r.retryAfter)
			}
			return worst
		}
		expect(t, r, status, code)
	}
	t.Errorf("breaker not open after %d requests", limit)
	return worst
}

func sourceFaults() []faultCase {
	heal := func(src *faultSource) { src.set("ok") }
	breakerCase := func(name, mode string, status int, code unified.Code, limit int) faultCase {
		return faultCase{name: name, heal: heal, run: func(t *testing.T, e *fenv, src *faultSource) (string, time.Duration) {
			src.set(mode)
			o := untilBreakerOpens(t, e, status, code, limit)
			return fmt.Sprintf("%d `%s`, then 503 `source_unavailable` + Retry-After (breaker open)", status, code), o
		}}
	}
	return []faultCase{
		breakerCase("source latency 2 s (deadline 1 s)", "latency", 504, unified.CodeUpstreamTimeout, 8),
		breakerCase("source 500 on every call", "error_500", 502, unified.CodeUpstreamError, 8),
		{name: "source 500 on half the calls", heal: heal, run: func(t *testing.T, e *fenv, src *faultSource) (string, time.Duration) {
			src.set("error_rate_50")
			worst, ok, bad := time.Duration(-1<<62), 0, 0
			for i := 0; i < 40 && e.srv.tab.Load().connections["demo"].guard.State() == 0; i++ {
				r := e.get(t, "/v1/demo/patients/p1", time.Second)
				worst = max(worst, r.overshoot)
				switch {
				case r.status == 200:
					ok++
				case r.status == 502 && r.code == unified.CodeUpstreamError:
					bad++
				default:
					t.Errorf("got %d %s", r.status, r.code)
				}
			}
			r := e.get(t, "/v1/demo/patients/p1", time.Second)
			expect(t, r, 503, unified.CodeSourceUnavailable)
			if ok == 0 || bad == 0 {
				t.Errorf("%d successes, %d failures before the breaker opened", ok, bad)
			}
			return fmt.Sprintf("200 or 502 `upstream_error`; breaker opens on the failure ratio after %d requests, then 503 `source_unavailable`", ok+bad), worst
		}},
		breakerCase("connection reset (RST) on every call", "reset", 503, unified.CodeSourceUnavailable, 8),
		breakerCase("truncated body (Content-Length 400, 40 bytes, close)", "truncated", 503, unified.CodeSourceUnavailable, 8),
		breakerCase("invalid JSON", "invalid_json", 502, unified.CodeUpstreamError, 8),
		breakerCase("very slow body (1 byte / 100 ms)", "slow_body", 504, unified.CodeUpstreamTimeout, 8),
		{name: "source refuses connections (down)", healDown: true, run: func(t *testing.T, e *fenv, src *faultSource) (string, time.Duration) {
			// Connection demo2 points at a port nothing listens on.
			worst := time.Duration(-1 << 62)
			for i := 0; i < 12; i++ {
				r := e.get(t, "/v1/demo2/patients/p1", time.Second)
				worst = max(worst, r.overshoot)
				expect(t, r, 503, unified.CodeSourceUnavailable)
			}
			if st := e.srv.tab.Load().connections["demo2"].guard.State(); st != 2 {
				t.Errorf("breaker of a refusing source is %v, want open", st)
			}
			return "503 `source_unavailable` (retried within the budget), breaker opens after 5", worst
		}},
		{name: "429 with Retry-After: 2", heal: heal, run: func(t *testing.T, e *fenv, src *faultSource) (string, time.Duration) {
			src.set("429")
			r := e.get(t, "/v1/demo/patients/p1", time.Second)
			expect(t, r, 503, unified.CodeSourceRateLimited)
			if r.retryAfter != "2" {
				t.Errorf("Retry-After %q, want the source's 2", r.retryAfter)
			}
			calls := src.calls.Load()
			r2 := e.get(t, "/v1/demo/patients/p1", time.Second)
			expect(t, r2, 503, unified.CodeSourceRateLimited)
			if src.calls.Load() != calls {
				t.Error("the source was called during its own Retry-After")
			}
			if st := e.srv.tab.Load().connections["demo"].guard.State(); st != 0 {
				t.Errorf("a 429 moved the breaker to %v", st)
			}
			return "503 `source_rate_limited`, Retry-After: 2; no source call until it ends; breaker untouched", max(r.overshoot, r2.overshoot)
		}},
		{name: "429 with Retry-After: 86400 (clamped)", heal: heal, run: func(t *testing.T, e *fenv, src *faultSource) (string, time.Duration) {
			src.set("429_long")
			r := e.get(t, "/v1/demo/patients/p1", time.Second)
			expect(t, r, 503, unified.CodeSourceRateLimited)
			if r.retryAfter != "1" {
				t.Errorf("Retry-After %q, want max_retry_after (1s)", r.retryAfter)
			}
			return "503 `source_rate_limited`, Retry-After clamped to `max_retry_after`", r.overshoot
		}},
		{name: "503 with Retry-After: 1", heal: heal, run: func(t *testing.T, e *fenv, src *faultSource) (string, time.Duration) {
			src.set("503")
			r := e.get(t, "/v1/demo/patients/p1", time.Second)
			expect(t, r, 503, unified.CodeSourceUnavailable)
			if r.retryAfter != "1" {
				t.Errorf("Retry-After %q", r.retryAfter)
			}
			return "503 `source_unavailable`, Retry-After: 1; held", r.overshoot
		}},
	}
}

func TestFaultMatrix(t *testing.T) {
	var m matrix
	// A first environment, started and stopped before anything is counted,
	// so that one-time goroutines (fasthttp's date ticker and the like) are
	// not mistaken for leaks.
	warm := newFaultSource(t)
	e := startGateway(t, inProcessConfig(warm, nil), nil)
	e.get(t, "/v1/demo/patients/p1", time.Second)
	e.stop()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()

	for _, fc := range sourceFaults() {
		g0, fd0 := runtime.NumGoroutine(), openFDs()
		var r row
		t.Run(fc.name, func(t *testing.T) {
			src := newFaultSource(t)
			e := startGateway(t, inProcessConfig(src, func(c map[string]any) {
				connCfg(c, 0)["limits"] = map[string]any{"max_timeout": "2s", "max_retry_after": "1s"}
				if strings.Contains(fc.name, "Retry-After: 2") {
					connCfg(c, 0)["limits"] = map[string]any{"max_timeout": "2s"}
				}
				d := connCfg(c, 1)
				d["base_url"], d["timeout"] = deadURL, "1s"
				d["breaker"] = map[string]any{"open_for": "500ms"}
				c["clients"].([]any)[0].(map[string]any)["connections"] = []string{"demo", "demo2"}
			}), nil)
			e.get(t, "/v1/demo/patients/p1", time.Second)
			r.fault, r.deadline = fc.name, time.Second
			r.outcome, r.overshoot = fc.run(t, e, src)
			if r.overshoot > overshootLimit {
				t.Errorf("a request outlived its deadline by %v", r.overshoot)
			}
			if fc.heal != nil {
				fc.heal(src)
				r.recovery = recover200(t, e, "/v1/demo/patients/p1")
			}
			if fc.healDown {
				ln, err := net.Listen("tcp", strings.TrimPrefix(deadURL, "http://"))
				if err != nil {
					t.Fatalf("listen on the dead port again: %v", err)
				}
				up := &http.Server{Handler: newFaultSource(t)}
				go func() { _ = up.Serve(ln) }()
				defer up.Close()
				r.recovery = recover200(t, e, "/v1/demo2/patients/p1")
			}
		})
		r.goroutines, r.fds = settledLeaks(g0, fd0)
		if r.goroutines > 0 || r.fds > 0 {
			t.Errorf("%s: %d goroutines and %d descriptors left behind\n%s", fc.name, r.goroutines, r.fds, stacks())
		}
		m.add(r)
	}
	for _, fc := range pluginFaults() {
		g0, fd0 := runtime.NumGoroutine(), openFDs()
		var r row
		t.Run(fc.name, func(t *testing.T) {
			r.fault, r.deadline = fc.name, cmp.Or(fc.deadline, time.Second)
			r.outcome, r.overshoot, r.recovery = fc.run(t)
			if r.overshoot > overshootLimit {
				t.Errorf("a request outlived its deadline by %v", r.overshoot)
			}
		})
		r.goroutines, r.fds = settledLeaks(g0, fd0)
		if r.goroutines > 0 || r.fds > 0 {
			t.Errorf("%s: %d goroutines and %d descriptors left behind\n%s", fc.name, r.goroutines, r.fds, stacks())
		}
		m.add(r)
	}
	m.print(t)
}

// recover200 polls a read every 10 ms until it succeeds and returns how
// long that took (at most 5 s).
func recover200(t *testing.T, e *fenv, path string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if r := e.get(t, path, 2*time.Second); r.status == 200 {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s not served again 5 s after the fault was healed", path)
	return time.Since(start)
}

// Plugin faults: the real test plugin, supervised by plugins.Host.

var (
	testPluginOnce sync.Once
	testPluginPath string
	testPluginSum  []byte
	testPluginErr  error
)

// testPlugin builds plugins/internal/testplugin once per test binary.
func testPlugin(t *testing.T) (string, []byte) {
	t.Helper()
	testPluginOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-proxy-testplugin")
		if err != nil {
			testPluginErr = err
			return
		}
		testPluginPath = filepath.Join(dir, "testplugin")
		out, err := exec.Command("go", "build", "-o", testPluginPath, "github.com/ferryhealth/ferry/plugins/internal/testplugin").CombinedOutput()
		if err != nil {
			testPluginErr = fmt.Errorf("%v: %s", err, out)
			return
		}
		testPluginSum = fileSum(testPluginPath)
	})
	if testPluginErr != nil {
		t.Fatalf("build test plugin: %v", testPluginErr)
	}
	return testPluginPath, testPluginSum
}

func fileSum(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := sha256.Sum256(b)
	return s[:]
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testPluginPath != "" {
		os.RemoveAll(filepath.Dir(testPluginPath))
	}
	os.Exit(code)
}

// pluginGateway serves connections c1 and c2 of kind "test" through the
// test plugin at path. Each has a 1 s deadline and a breaker open for
// 500 ms.
func pluginGateway(t *testing.T, path string, sum []byte, wait bool, mutate ...func(c map[string]any)) (*fenv, *plugins.Host) {
	t.Helper()
	src := newFaultSource(t)
	h, err := plugins.NewHost([]plugins.Spec{{Kind: "test", Path: path, SHA256: sum,
		Connections: []plugins.Connection{{ID: "c1"}, {ID: "c2"}}}},
		plugins.Options{MinBackoff: 300 * time.Millisecond, StableAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(h.Close)
	if wait {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(src.url(), func(c map[string]any) {
		c["plugins"] = []any{map[string]any{"kind": "test", "path": path, "sha256": fmt.Sprintf("%x", sum)}}
		conn := func(id string) map[string]any {
			return map[string]any{"id": id, "tenant": "demo", "connector": "test", "base_url": src.url(),
				"auth": map[string]any{"kind": "none"}, "timeout": "1s", "allow_insecure_http": true,
				"allow_private_network": true, "breaker": map[string]any{"open_for": "500ms"},
				"limits": map[string]any{"max_timeout": "15s"}}
		}
		c["connections"] = []any{conn("c1"), conn("c2")}
		c["clients"] = []any{map[string]any{"id": "demo-app", "tenant": "demo", "api_key_sha256": sha(keyDemo), "connections": []string{"c1", "c2"}}}
		for _, m := range mutate {
			m(c)
		}
	})
	return startGateway(t, cfg, h), h
}

type pluginFaultCase struct {
	name     string
	deadline time.Duration // of its requests, when not 1 s
	run      func(t *testing.T) (outcome string, overshoot, recovery time.Duration)
}

func pluginFaults() []pluginFaultCase {
	// simple: one read of a record id the plugin misbehaves on.
	simple := func(name, id string, status int, code unified.Code) pluginFaultCase {
		var deadline time.Duration
		if id == "big" {
			deadline = 15 * time.Second
		}
		return pluginFaultCase{name: name, deadline: deadline, run: func(t *testing.T) (string, time.Duration, time.Duration) {
			path, sum := testPlugin(t)
			e, _ := pluginGateway(t, path, sum, true)
			var r reply
			if id == "big" {
				// Making and sending 70 MiB takes the plugin a second or
				// two (several under -race on a busy machine): a longer
				// deadline, so that what is checked is the size limit and
				// not the clock.
				r = e.get(t, "/v1/c1/patients/"+id, 15*time.Second, timeoutHeader, "15s")
			} else {
				r = e.get(t, "/v1/c1/patients/"+id, time.Second)
			}
			expect(t, r, status, code)
			start := time.Now()
			rec := recover200(t, e, "/v1/c1/patients/ok")
			if time.Since(start) < 20*time.Millisecond {
				rec = 0 // never down
			}
			return fmt.Sprintf("%d `%s`", status, code), r.overshoot, rec
		}}
	}
	return []pluginFaultCase{
		simple("plugin panics in a mapping", "panic", 502, unified.CodeConnectorError),
		simple("plugin hangs (deadline 1 s)", "hang", 504, unified.CodeUpstreamTimeout),
		simple("plugin answers over the message limit (70 MiB)", "big", 502, unified.CodeConnectorError),
		simple("plugin answers a record that is not JSON", "badjson", 502, unified.CodeConnectorError),
		{name: "plugin exits mid-call", run: func(t *testing.T) (string, time.Duration, time.Duration) {
			path, sum := testPlugin(t)
			e, _ := pluginGateway(t, path, sum, true)
			r := e.get(t, "/v1/c1/patients/exit", time.Second)
			expect(t, r, 502, unified.CodeConnectorError)
			return "502 `connector_error`; restarted at once", r.overshoot, recover200(t, e, "/v1/c1/patients/ok")
		}},
		{name: "plugin SIGKILLed during a call", run: func(t *testing.T) (string, time.Duration, time.Duration) {
			path, sum := testPlugin(t)
			e, h := pluginGateway(t, path, sum, true)
			go func() {
				time.Sleep(200 * time.Millisecond)
				_ = syscall.Kill(h.PID("test"), syscall.SIGKILL)
			}()
			r := e.get(t, "/v1/c1/patients/hang", time.Second)
			expect(t, r, 502, unified.CodeConnectorError)
			if r.served > 600*time.Millisecond {
				t.Errorf("a killed plugin's call took %v to fail", r.served)
			}
			return "502 `connector_error` at once; restarted", r.overshoot, recover200(t, e, "/v1/c1/patients/ok")
		}},
		{name: "plugin crash loop", run: func(t *testing.T) (string, time.Duration, time.Duration) {
			path, sum := testPlugin(t)
			e, _ := pluginGateway(t, path, sum, true)
			worst := time.Duration(-1 << 62)
			var last time.Time
			tripped := false
			// Until the host has noticed a crash, calls to the dead
			// process fail at once (502); how many land in that window
			// depends on scheduling, so the loop is bounded in time, not
			// in requests.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !tripped; {
				r := e.get(t, "/v1/c1/patients/exit", time.Second)
				last = time.Now()
				worst = max(worst, r.overshoot)
				switch {
				case r.status == 502 && r.code == unified.CodeConnectorError:
				case r.status == 503 && r.code == unified.CodeConnectorUnavailable:
					expect(t, r, 503, unified.CodeConnectorUnavailable)
					tripped = true
				default:
					t.Fatalf("got %d %s", r.status, r.code)
				}
			}
			if !tripped {
				t.Fatal("no connector_unavailable from a crash-looping plugin")
			}
			// The other connection of the plugin is refused by its own,
			// now open, breaker.
			r := e.get(t, "/v1/c2/patients/ok", time.Second)
			expect(t, r, 503, unified.CodeConnectorUnavailable)
			if st := e.srv.tab.Load().connections["c2"].guard.State(); st != 2 {
				t.Errorf("breaker of the plugin's other connection is %v, want open", st)
			}
			if n := metricValue(t, e.srv, "ferry_connection_breaker_state", "c2"); n != 2 {
				t.Errorf("ferry_connection_breaker_state{c2} = %v", n)
			}
			recover200(t, e, "/v1/c2/patients/ok")
			rec := time.Since(last)
			return "502 `connector_error`, then 503 `connector_unavailable` + Retry-After on every connection of the plugin (breakers opened)", worst, rec
		}},
		{name: "plugin slow to start (1.5 s)", run: func(t *testing.T) (string, time.Duration, time.Duration) {
			// The test plugin built to sleep 1.5 s before serving (the
			// sandbox execs ELF binaries, not a script that sleeps).
			slow := filepath.Join(t.TempDir(), "slow-plugin")
			out, err := exec.Command("go", "build", "-ldflags", "-X main.startDelay=1.5s", "-o", slow, "github.com/ferryhealth/ferry/plugins/internal/testplugin").CombinedOutput()
			if err != nil {
				t.Fatalf("build the slow plugin: %v\n%s", err, out)
			}
			started := time.Now()
			e, _ := pluginGateway(t, slow, fileSum(slow), false)
			r := e.get(t, "/v1/c1/patients/ok", time.Second)
			expect(t, r, 503, unified.CodeConnectorUnavailable)
			recover200(t, e, "/v1/c1/patients/ok")
			return "503 `connector_unavailable` at once until it is up", r.overshoot, time.Since(started)
		}},
	}
}

// metricValue reads one series of the server's registry.
func metricValue(t *testing.T, s *Server, name, conn string) float64 {
	t.Helper()
	mfs := scrapeMetrics(t, s)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "connection" && l.GetValue() == conn {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// scrapeMetrics reads what /metrics serves, parsed.
func scrapeMetrics(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	var rc fasthttp.RequestCtx
	s.serveMetrics(&rc)
	if rc.Response.StatusCode() != fasthttp.StatusOK {
		t.Fatalf("/metrics: %d", rc.Response.StatusCode())
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(rc.Response.Body()))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}
