package bench

// Memory per tenant (issue 8's W5): the proxy built in-process as `ferry
// serve` builds it, from the harness's generated dev_mode config of N
// tenants (one client and one connection each, to the upstream fixture on
// 127.0.0.1), with each tenant's keyed and signed audit stream. The FHIR
// connector runs in-process, so its per-connection state is in the same
// heap (in the product it lives in the plugin process).
//
// TestTenantGoroutines (run by `make test`, skipped under -short) checks
// that serving one request on each of a few hundred connections leaves no
// goroutine per tenant behind. BenchmarkTenantMemory reports the live heap
// and goroutines at N = 1 and N = 10,000, idle and after one request per
// connection, and with FERRY_BENCH_HEAPPROFILE=DIR writes the heap
// profiles there (go tool pprof -top -sample_index=inuse_space FILE):
//
//	go test -run '^$' -bench TenantMemory -benchtime 1x ./bench/
//	FERRY_BENCH_TENANTS=1,1000 FERRY_BENCH_HEAPPROFILE=/tmp go test -run '^$' -bench TenantMemory -benchtime 1x ./bench/

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/bench/harness"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/proxy"
	"github.com/ferryhealth/ferry/proxy/config"
)

// memRig is a proxy of n tenants served on 127.0.0.1, and a client of it.
type memRig struct {
	n      int
	srv    *proxy.Server
	em     *auditlog.Emitter
	ln     net.Listener
	client *fasthttp.HostClient
}

// startMemRig builds the server as `ferry serve` does: the tenants' secrets
// providers, an audit emitter with one signed stream per tenant (every
// stdout sink sharing one writer), then proxy.New. The caller closes it.
func startMemRig(tb testing.TB, fixAddr string, n int) *memRig {
	tb.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte("x"))
	doc := harness.FerryConfig("127.0.0.1:0", "127.0.0.1:1", "/nonexistent", hex.EncodeToString(sum[:]),
		"http://"+fixAddr+harness.FHIRPrefix, n)
	cfg, probs := config.Parse(doc, "")
	if len(probs) > 0 {
		tb.Fatal(probs)
	}
	providers, err := proxy.NewTenantSecrets(cfg, proxy.SecretsOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	shared := auditlog.NewJSONLines(io.Discard)
	sink := func() auditlog.SinkOptions {
		so, err := auditlog.NewSink(ctx, auditlog.SinkConfig{Kind: auditlog.SinkStdout, Stdout: io.Discard})
		if err != nil {
			tb.Fatal(err)
		}
		so.Sink = shared
		return so
	}
	opts := auditlog.Options{Region: "local", Default: &auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{sink()}},
		Tenants: map[string]auditlog.StreamOptions{}}
	for _, t := range cfg.Tenants {
		v, err := providers[t.ID].Resolve(ctx, t.Audit.SigningKeyRef)
		if err != nil {
			tb.Fatal(err)
		}
		key, err := auditlog.ParseSigningKey(v.Reveal())
		if err != nil {
			tb.Fatal(err)
		}
		opts.Tenants[t.ID] = auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{sink()}, SigningKey: key}
	}
	em, err := auditlog.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ip, err := proxy.NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New()})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := proxy.New(ctx, proxy.Options{Config: cfg, TenantSecrets: providers, Connectors: ip, Audit: em})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.ServeAPI(ln, nil) }()
	r := &memRig{n: n, srv: srv, em: em, ln: ln, client: &fasthttp.HostClient{
		Addr: ln.Addr().String(), MaxConns: 8, ReadTimeout: 10 * time.Second, MaxResponseBodySize: 8 << 20,
	}}
	return r
}

func (r *memRig) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	r.ln.Close()
	r.client.CloseIdleConnections()
	_ = r.em.Close(ctx)
}

// readAll reads one patient through every tenant's connection, with its
// own key, from a few client goroutines.
func (r *memRig) readAll(tb testing.TB) {
	tb.Helper()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := w; i < r.n; i += workers {
				req.SetRequestURI("http://" + r.client.Addr + "/v1/" + harness.ConnID(i) + "/patients/p" + strconv.Itoa(i))
				req.Header.Set("Authorization", "Bearer "+harness.APIKey(i))
				if err := r.client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					errs <- fmt.Errorf("connection %d: status %d, %v: %.200s", i, resp.StatusCode(), err, resp.Body())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// memFigures are the live heap and goroutines at one moment, after two
// collections.
type memFigures struct {
	heapInuse, stackInuse uint64
	objects               uint64
	goroutines            int
}

func measureMem() memFigures {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, objects: ms.HeapObjects, goroutines: runtime.NumGoroutine()}
}

func (m memFigures) String() string {
	return fmt.Sprintf("heap in use %.1f MB (%d objects), stacks %.1f MB, %d goroutines",
		float64(m.heapInuse)/(1<<20), m.objects, float64(m.stackInuse)/(1<<20), m.goroutines)
}

func memFixture(tb testing.TB) *harness.Fixture {
	tb.Helper()
	fix, err := harness.NewFixture(harness.FixtureOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := fix.Listen("127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = fix.Close() })
	return fix
}

// TestTenantGoroutines: a request on each of 300 connections leaves at
// most a handful of goroutines behind, not one per connection (a source
// client's idle-connection cleaner was one per connection).
func TestTenantGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a proxy of 300 tenants")
	}
	const n = 300
	fix := memFixture(t)
	r := startMemRig(t, fix.Addr(), n)
	t.Cleanup(r.close)
	before := measureMem()
	r.readAll(t)
	after := measureMem()
	t.Logf("idle: %v; after a read per connection: %v", before, after)
	if grown := after.goroutines - before.goroutines; grown > n/10 {
		t.Errorf("%d goroutines more after one read on each of %d connections: per-connection goroutines", grown, n)
	}
}

// BenchmarkTenantMemory reports the live heap of the proxy with N tenants,
// idle and after one read per connection (FERRY_BENCH_TENANTS, default
// 1,10000). The figures are the process's, so they include the fixture and
// the in-process connector.
func BenchmarkTenantMemory(b *testing.B) {
	sizes := []int{1, 10000}
	if v := os.Getenv("FERRY_BENCH_TENANTS"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				b.Fatalf("FERRY_BENCH_TENANTS: %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	dir := os.Getenv("FERRY_BENCH_HEAPPROFILE")
	fix := memFixture(b)
	for _, n := range sizes {
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			base := measureMem()
			var idle, after memFigures
			for range b.N {
				r := startMemRig(b, fix.Addr(), n)
				idle = measureMem()
				writeHeap(b, dir, fmt.Sprintf("heap-n%d-idle.pb.gz", n))
				r.readAll(b)
				after = measureMem()
				writeHeap(b, dir, fmt.Sprintf("heap-n%d-after.pb.gz", n))
				r.close()
			}
			mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
			b.ReportMetric(mb(idle.heapInuse-min(base.heapInuse, idle.heapInuse)), "idle-heap-MB")
			b.ReportMetric(mb(after.heapInuse-min(base.heapInuse, after.heapInuse)), "after-heap-MB")
			b.ReportMetric(mb(after.stackInuse), "after-stack-MB")
			b.ReportMetric(float64(after.goroutines-base.goroutines), "after-goroutines")
			b.Logf("N=%d: idle: %v; after a read per connection: %v", n, idle, after)
		})
	}
}

func writeHeap(tb testing.TB, dir, name string) {
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}
