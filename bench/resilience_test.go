package bench

// Isolation of failing sources (issue 5's bar): ten connections served by
// one real ferry-connector-fhir plugin process, each with its own client
// sending reads open-loop at a fixed rate. First every source is healthy;
// then, in the same run, one source is hard down (connection refused) and
// another answers in 5 s, and their clients keep sending at the same rate.
// The eight healthy connections must keep at least 95% of the throughput
// (200 answers per second) they had in the first phase.
//
// The rate is a share of the all-healthy capacity measured first in the same
// run (FERRY_BENCH_LOAD, default 0.3, so that a busy CI machine does not
// push the first phase past saturation): whatever the failing connections
// cost beyond their share (requests piling up behind the slow source, dial
// attempts and retries against the dead one) would come out of the healthy
// connections' throughput and latency. Throughput counts reads answered
// 200 within 2 s.
//
// Alone (prints the figures): go test -run TestResilienceIsolation -v ./bench/
// Longer phases, more load: FERRY_BENCH_PHASE=10s FERRY_BENCH_LOAD=0.8 go test -run TestResilienceIsolation -v ./bench/
// As a benchmark: go test -run '^$' -bench ResilienceIsolation ./bench/

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/plugins"
	"github.com/ferryhealth/ferry/proxy"
	"github.com/ferryhealth/ferry/proxy/config"
)

const (
	isolationConns = 10
	downConn       = 8 // hard down in the second phase
	slowConn       = 9 // answers in 5 s in the second phase
	isolationKey   = "key-isolation-bench"
	minRatio       = 0.95
)

// front stands before the sandbox for one connection: healthy, or slow.
type front struct {
	sb   http.Handler
	slow atomic.Bool
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.slow.Load() {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
			return
		}
	}
	f.sb.ServeHTTP(w, r)
}

// fhirPlugin returns the FHIR plugin binary: $FERRY_BIN's (make test
// builds it) or one built here.
func fhirPlugin(tb testing.TB) (string, string) {
	tb.Helper()
	path := ""
	if dir := os.Getenv("FERRY_BIN"); dir != "" {
		path = filepath.Join(dir, "ferry-connector-fhir")
	}
	if _, err := os.Stat(path); path == "" || err != nil {
		path = filepath.Join(tb.TempDir(), "ferry-connector-fhir")
		out, err := exec.Command("go", "build", "-o", path, "github.com/ferryhealth/ferry/cmd/ferry-connector-fhir").CombinedOutput()
		if err != nil {
			tb.Fatalf("build the FHIR plugin: %v: %s", err, out)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	d := sha256.Sum256(b)
	return path, hex.EncodeToString(d[:])
}

type isolationRig struct {
	base    string
	fronts  []*front
	servers []*httptest.Server
	paths   []string // one patient read per connection
	client  *fasthttp.Client
}

func startIsolationRig(tb testing.TB) *isolationRig {
	tb.Helper()
	plugin, sum := fhirPlugin(tb)
	sb := sandbox.New(sandbox.Options{})
	patient := sb.PatientIDs()[0]
	rig := &isolationRig{client: &fasthttp.Client{MaxConnsPerHost: 4096, ReadTimeout: 30 * time.Second}}
	var conns []any
	var ids []string
	for i := range isolationConns {
		f := &front{sb: sb.Handler()}
		s := httptest.NewServer(f)
		rig.fronts, rig.servers = append(rig.fronts, f), append(rig.servers, s)
		id := fmt.Sprintf("c%d", i)
		ids = append(ids, id)
		rig.paths = append(rig.paths, "/v1/"+id+"/patients/"+patient)
		// The product defaults: 10 s deadline, 32 in flight, breaker
		// after 5 failures for 10 s.
		conns = append(conns, map[string]any{"id": id, "tenant": "acme", "connector": "fhir", "base_url": s.URL + sandbox.Prefix,
			"auth": map[string]any{"kind": "none"}, "allow_insecure_http": true, "allow_private_network": true})
	}
	tb.Cleanup(func() {
		for _, s := range rig.servers {
			s.Close()
		}
	})
	keySum := sha256.Sum256([]byte(isolationKey))
	doc, _ := json.Marshal(map[string]any{
		"dev_mode": true,
		"node":     map[string]any{"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:1"},
		"plugins":  []any{map[string]any{"kind": "fhir", "path": plugin, "sha256": sum}},
		"tenants": []any{map[string]any{"id": "acme", "secrets": map[string]any{"provider": "env"},
			"audit": map[string]any{"key_ref": "literal:audit-key-isolation-bench-0123456789abcdef"}}},
		"clients":     []any{map[string]any{"id": "app", "tenant": "acme", "api_key_sha256": hex.EncodeToString(keySum[:]), "connections": ids}},
		"connections": conns,
	})
	cfg, probs := config.Parse(doc, "")
	if len(probs) > 0 {
		tb.Fatal(probs)
	}
	spec := plugins.Spec{Kind: "fhir", Path: plugin}
	spec.SHA256, _ = hex.DecodeString(sum)
	for _, id := range ids {
		spec.Connections = append(spec.Connections, plugins.Connection{ID: id})
	}
	host, err := plugins.NewHost([]plugins.Spec{spec}, plugins.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	host.Start()
	tb.Cleanup(host.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := host.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
	srv, err := proxy.New(context.Background(), proxy.Options{Config: cfg, Connectors: host,
		Audit: &auditlogtest.Recorder{}})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.ServeAPI(ln, nil) }()
	tb.Cleanup(func() {
		// The sources go first, so that calls held by the slow one end.
		for _, s := range rig.servers {
			s.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	rig.base = "http://" + ln.Addr().String()
	return rig
}

// read sends one read and returns its status (0 on a client error).
func (r *isolationRig) read(conn int) int {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(r.base + r.paths[conn])
	req.Header.Set("Authorization", "Bearer "+isolationKey)
	if err := r.client.DoTimeout(req, resp, 30*time.Second); err != nil {
		return 0
	}
	return resp.StatusCode()
}

// capacity measures all-healthy reads per second, closed-loop with a few
// clients per connection.
func (r *isolationRig) capacity(d time.Duration) float64 {
	var n atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range isolationConns {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					if r.read(c) == 200 {
						n.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// phaseResult is what one open-loop phase measured.
type phaseResult struct {
	ok       [isolationConns]int64 // 200 answers within the SLO
	statuses [isolationConns]map[int]int
	latency  []time.Duration // of the healthy connections' answers
	late     int64           // healthy 200 answers slower than the SLO
}

// slo is how long a read may take and still count as throughput. Far above
// a read's usual latency (milliseconds), it keeps a stall of the machine
// (other processes on a shared CI host) from counting as a loss, while a
// request held behind a failing source would still miss it.
const slo = 2 * time.Second

// openLoop sends perConn reads a second to every connection for d, each at
// its scheduled time whatever became of the earlier ones. Throughput is the
// reads sent in the window that were answered 200 within the SLO, per
// second of the window.
func (r *isolationRig) openLoop(perConn float64, d time.Duration) *phaseResult {
	res := &phaseResult{}
	var mu sync.Mutex
	closed := false
	for c := range isolationConns {
		res.statuses[c] = map[int]int{}
	}
	interval := time.Duration(float64(time.Second) / perConn)
	start := time.Now()
	end := start.Add(d)
	var schedulers, healthy sync.WaitGroup
	for c := range isolationConns {
		schedulers.Add(1)
		go func() {
			defer schedulers.Done()
			// Staggered, so that the ten schedules do not fire together.
			next := start.Add(time.Duration(c) * interval / isolationConns)
			for next.Before(end) {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				isHealthy := c != downConn && c != slowConn
				if isHealthy {
					healthy.Add(1)
				}
				go func() {
					if isHealthy {
						defer healthy.Done()
					}
					t0 := time.Now()
					st := r.read(c)
					took := time.Since(t0)
					mu.Lock()
					defer mu.Unlock()
					if closed {
						return // the slow source's, answered after the phase
					}
					res.statuses[c][st]++
					if isHealthy {
						res.latency = append(res.latency, took)
						switch {
						case st == 200 && took <= slo:
							res.ok[c]++
						case st == 200:
							res.late++
						}
					}
				}()
			}
		}()
	}
	schedulers.Wait()
	healthy.Wait()
	mu.Lock()
	closed = true
	mu.Unlock()
	return res
}

func (p *phaseResult) healthyPerSecond(d time.Duration) float64 {
	var n int64
	for c, v := range p.ok {
		if c != downConn && c != slowConn {
			n += v
		}
	}
	return float64(n) / d.Seconds()
}

func (p *phaseResult) percentile(q float64) time.Duration {
	if len(p.latency) == 0 {
		return 0
	}
	l := slices.Clone(p.latency)
	slices.Sort(l)
	return l[int(q*float64(len(l)-1))]
}

type isolationResult struct {
	capacity, perConn, healthyA, healthyB, ratio float64
	a, b                                         *phaseResult
	phase                                        time.Duration
}

func runIsolation(tb testing.TB) isolationResult {
	phase := 3 * time.Second
	if v := os.Getenv("FERRY_BENCH_PHASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			tb.Fatalf("FERRY_BENCH_PHASE: %q", v)
		}
		phase = d
	}
	rig := startIsolationRig(tb)
	rig.capacity(500 * time.Millisecond) // warm-up: connections, JIT of the plugin's paths
	c := rig.capacity(2 * time.Second)
	perConn := benchLoad(tb) * c / isolationConns
	if perConn < 2 {
		tb.Fatalf("capacity of %.0f reads/s is too low to measure anything", c)
	}
	res := isolationResult{capacity: c, perConn: perConn, phase: phase}
	res.a = rig.openLoop(perConn, phase)
	// The same run: one source goes hard down, another slow.
	rig.servers[downConn].Close()
	rig.fronts[slowConn].slow.Store(true)
	res.b = rig.openLoop(perConn, phase)
	res.healthyA, res.healthyB = res.a.healthyPerSecond(phase), res.b.healthyPerSecond(phase)
	res.ratio = res.healthyB / res.healthyA
	return res
}

func (r isolationResult) String() string {
	return fmt.Sprintf("resilience isolation: capacity %.0f reads/s; open loop %.1f reads/s per connection, %s per phase\n"+
		"  all healthy:          8 healthy connections %.1f reads/s (p50 %v, p99 %v)\n"+
		"  1 down + 1 slow (5s): 8 healthy connections %.1f reads/s (p50 %v, p99 %v)\n"+
		"  down connection answers %v; slow connection answers %v (by the end of the phase; a 200 there took 5 s)\n"+
		"  healthy throughput ratio %.3f (must be >= %.2f)",
		r.capacity, r.perConn, r.phase,
		r.healthyA, r.a.percentile(.5).Round(10*time.Microsecond), r.a.percentile(.99).Round(10*time.Microsecond),
		r.healthyB, r.b.percentile(.5).Round(10*time.Microsecond), r.b.percentile(.99).Round(10*time.Microsecond),
		r.b.statuses[downConn], r.b.statuses[slowConn], r.ratio, minRatio)
}

func TestResilienceIsolation(t *testing.T) {
	r := runIsolation(t)
	t.Log("\n" + r.String())
	if r.ratio < minRatio {
		t.Errorf("the healthy connections kept %.3f of their throughput, below %.2f", r.ratio, minRatio)
	}
	if r.b.statuses[downConn][503] == 0 || len(r.b.statuses[downConn]) != 1 {
		t.Errorf("the dead source's connection was answered %v, want only 503", r.b.statuses[downConn])
	}
}

func BenchmarkResilienceIsolation(b *testing.B) {
	var r isolationResult
	for b.Loop() {
		r = runIsolation(b)
	}
	b.ReportMetric(r.ratio, "healthy_ratio")
	b.ReportMetric(r.healthyA, "healthy_reads/s_before")
	b.ReportMetric(r.healthyB, "healthy_reads/s_after")
}

// benchLoad is the open-loop rate as a share of the measured capacity.
func benchLoad(tb testing.TB) float64 {
	v := os.Getenv("FERRY_BENCH_LOAD")
	if v == "" {
		return 0.3
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 {
		tb.Fatalf("FERRY_BENCH_LOAD: %q (a share of capacity, 0 to 1)", v)
	}
	return f
}
