package hotpath

// Micro-benchmarks of the request path, reached from outside the product
// packages: the proxy in-process (proxy.NewInProcess) served on an
// in-memory listener, the real FHIR plugin behind the real plugin host,
// and the pieces on their own.
//
// Alone:   go test -run '^$' -bench . -benchmem ./bench/hotpath/
// Compare: go test -run '^$' -bench . -count 10 ./bench/hotpath/ > new.txt; benchstat old.txt new.txt
// Profile: go test -run '^$' -bench 'Request/W1/plugin' -cpuprofile cpu.out ./bench/hotpath/

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/bench/harness"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/plugins"
	"github.com/ferryhealth/ferry/proxy"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/cursor"
	"github.com/ferryhealth/ferry/proxy/tracing"
	"github.com/ferryhealth/ferry/unified"
)

// fixture is one upstream fixture on 127.0.0.1 for the whole package.
var fixture = sync.OnceValues(func() (*harness.Fixture, error) {
	f, err := harness.NewFixture(harness.FixtureOptions{})
	if err != nil {
		return nil, err
	}
	return f, f.Listen("127.0.0.1:0")
})

// pluginPath is the real ferry-connector-fhir: from $FERRY_BIN (make test
// builds it first), else built once here.
var pluginPath = sync.OnceValues(func() (string, error) {
	dir, scratch := os.Getenv("FERRY_BIN"), ""
	if dir == "" {
		var err error
		if scratch, err = os.MkdirTemp("", "ferry-hotpath-bin"); err != nil {
			return "", err
		}
	}
	_, plugin, err := harness.Binaries(dir, scratch, io.Discard)
	return plugin, err
})

// gateway is a Ferry proxy served on an in-memory listener, with a client
// that reaches it.
type gateway struct {
	client *fasthttp.HostClient
	auth   string
	fix    *harness.Fixture
}

func testConfig(tb testing.TB, sourceURL string) *config.Config {
	tb.Helper()
	sum := sha256.Sum256([]byte("x"))
	doc := harness.FerryConfig("127.0.0.1:0", "127.0.0.1:1", "/nonexistent", hex.EncodeToString(sum[:]), sourceURL, 1)
	cfg, probs := config.Parse(doc, "")
	if len(probs) > 0 {
		tb.Fatal(probs)
	}
	return cfg
}

// newAudit builds a queued emitter as `ferry serve` does (a stdout sink
// per tenant, keyed and signed), writing to io.Discard.
func newAudit(tb testing.TB, cfg *config.Config) *auditlog.Emitter {
	tb.Helper()
	ctx := context.Background()
	sink := func() auditlog.SinkOptions {
		so, err := auditlog.NewSink(ctx, auditlog.SinkConfig{Kind: auditlog.SinkStdout, Stdout: io.Discard})
		if err != nil {
			tb.Fatal(err)
		}
		return so
	}
	seed := sha256.Sum256([]byte("bench-signing-key"))
	key, err := auditlog.ParseSigningKey([]byte(hex.EncodeToString(seed[:])))
	if err != nil {
		tb.Fatal(err)
	}
	o := auditlog.Options{Region: "local", Default: &auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{sink()}},
		Tenants: map[string]auditlog.StreamOptions{}}
	for _, t := range cfg.Tenants {
		o.Tenants[t.ID] = auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{sink()}, SigningKey: key}
	}
	em, err := auditlog.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = em.Close(context.Background()) })
	return em
}

// newGateway starts the proxy with the FHIR connector in-process, or,
// with plugin, behind the plugin host in the real plugin process.
func newGateway(tb testing.TB, plugin bool) *gateway {
	tb.Helper()
	fix, err := fixture()
	if err != nil {
		tb.Fatal(err)
	}
	return serveGateway(tb, fix, testConfig(tb, "http://"+fix.Addr()+harness.FHIRPrefix), plugin)
}

// serveGateway serves cfg as newGateway does.
func serveGateway(tb testing.TB, fix *harness.Fixture, cfg *config.Config, plugin bool) *gateway {
	tb.Helper()
	return serveTraced(tb, fix, cfg, plugin, nil)
}

// serveTraced is serveGateway with tracer recording the requests' spans.
func serveTraced(tb testing.TB, fix *harness.Fixture, cfg *config.Config, plugin bool, tracer *tracing.Tracer) *gateway {
	tb.Helper()
	ctx := context.Background()
	var conns proxy.Connectors
	if plugin {
		host := startHost(tb, cfg)
		conns = host
	} else {
		ip, err := proxy.NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New()})
		if err != nil {
			tb.Fatal(err)
		}
		conns = ip
	}
	srv, err := proxy.New(ctx, proxy.Options{Config: cfg, Connectors: conns, Audit: newAudit(tb, cfg), Tracer: tracer})
	if err != nil {
		tb.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = srv.ServeAPI(ln, nil) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ln.Close()
	})
	return &gateway{
		client: &fasthttp.HostClient{Addr: "ferry", Dial: func(string) (net.Conn, error) { return ln.Dial() },
			MaxConns: 64, ReadTimeout: 10 * time.Second, MaxResponseBodySize: 64 << 20},
		auth: "Bearer " + harness.APIKey(0), fix: fix,
	}
}

func startHost(tb testing.TB, cfg *config.Config) *plugins.Host {
	tb.Helper()
	path, err := pluginPath()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	_, _ = io.Copy(h, f)
	f.Close()
	spec := plugins.Spec{Kind: "fhir", Path: path, SHA256: h.Sum(nil)}
	for _, c := range cfg.Connections {
		spec.Connections = append(spec.Connections, plugins.Connection{ID: c.ID, Settings: c.Settings})
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
	return host
}

// loop sends req (then releases it) once to warm up, then for as long as
// b asks, reporting allocations.
func (g *gateway) loop(b *testing.B, req *fasthttp.Request) {
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	g.get(b, req, resp)
	b.ReportAllocs()
	for b.Loop() {
		g.get(b, req, resp)
	}
}

// get sends one request and fails on anything but 200.
func (g *gateway) get(tb testing.TB, req *fasthttp.Request, resp *fasthttp.Response) {
	if err := g.client.Do(req, resp); err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		tb.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
	}
}

func (g *gateway) request(path string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://ferry" + path)
	req.Header.Set("Authorization", g.auth)
	return req
}

// The request paths measured, by workload: a read (W1), searches of 20 and
// 200 observations (W2, W3), and the capabilities route, which goes
// through routing, authentication, authorization and audit but calls no
// connector (the pipeline's own floor).
var paths = []struct{ name, path string }{
	{"capabilities", "/v1/c0/capabilities"},
	{"W1", "/v1/c0/patients/p-1"},
	{"W2", "/v1/c0/observations?patient_id=p-1&limit=20"},
	{"W3", "/v1/c0/observations?patient_id=p-1&limit=200"},
}

// BenchmarkRequest runs whole requests through the proxy: client, fasthttp
// server, pipeline, connector (in-process, or the real plugin over gRPC),
// the host transport to the fixture on 127.0.0.1, the answer, the audit
// event. allocs/op counts this process only: with the plugin, the plugin's
// own allocations are not in it.
func BenchmarkRequest(b *testing.B) {
	for _, mode := range []string{"inprocess", "plugin"} {
		g := newGateway(b, mode == "plugin")
		for _, p := range paths {
			b.Run(p.name+"/"+mode, func(b *testing.B) { g.loop(b, g.request(p.path)) })
		}
	}
}

// BenchmarkRequestParallel is BenchmarkRequest's W1 with 16 requests in
// flight, where the gRPC hop amortises better.
func BenchmarkRequestParallel(b *testing.B) {
	for _, mode := range []string{"inprocess", "plugin"} {
		g := newGateway(b, mode == "plugin")
		b.Run("W1/"+mode, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				req := g.request("/v1/c0/patients/p-1")
				defer fasthttp.ReleaseRequest(req)
				resp := fasthttp.AcquireResponse()
				defer fasthttp.ReleaseResponse(resp)
				for pb.Next() {
					g.get(b, req, resp)
				}
			})
		})
	}
}

// cannedTransport answers every source call with one body, so what is
// measured is the connector (and the plugin hop), not the source.
type cannedTransport struct{ body []byte }

func (c cannedTransport) Do(context.Context, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	return &connectors.HTTPResponse{Status: 200, Body: c.body}, nil
}

// searchBody is the fixture's Bundle of n observations.
func searchBody(tb testing.TB, n int) []byte {
	tb.Helper()
	fix, err := fixture()
	if err != nil {
		tb.Fatal(err)
	}
	c := &fasthttp.Client{}
	status, body, err := c.Get(nil, "http://"+fix.Addr()+harness.FHIRPrefix+"/Observation?patient=p-1&_count="+strconv.Itoa(n))
	if err != nil || status != 200 {
		tb.Fatalf("fixture: %d %v", status, err)
	}
	return body
}

// BenchmarkConnector calls the FHIR connector with a canned source answer:
// in-process it is the mapping alone (decode, map, encode); through the
// plugin host it adds the gRPC round trip, the broker call back to the
// host's transport, and the copies on both sides.
func BenchmarkConnector(b *testing.B) {
	fix, err := fixture()
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(b, "http://"+fix.Addr()+harness.FHIRPrefix)
	patient := fix.PatientBody("p-1")
	obs20, obs200 := searchBody(b, 20), searchBody(b, 200)
	ctx := context.Background()
	inproc := fhir.New()
	if _, err := inproc.Configure(ctx, &connectors.ConfigureRequest{ConnectionID: "c0"}); err != nil {
		b.Fatal(err)
	}
	host := startHost(b, cfg)
	viaPlugin, _ := host.Connector("fhir")
	for _, m := range []struct {
		name string
		c    connectors.Connector
	}{{"inprocess", inproc}, {"plugin", viaPlugin}} {
		b.Run("read/"+m.name, func(b *testing.B) {
			req := &connectors.ReadRequest{ConnectionID: "c0", Resource: unified.Patients, ID: "p-1", Transport: cannedTransport{patient}}
			b.ReportAllocs()
			b.SetBytes(int64(len(patient)))
			for b.Loop() {
				if _, err := m.c.Read(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, s := range []struct {
			n    int
			body []byte
		}{{20, obs20}, {200, obs200}} {
			b.Run("search"+strconv.Itoa(s.n)+"/"+m.name, func(b *testing.B) {
				req := &connectors.SearchRequest{ConnectionID: "c0", Resource: unified.Observations,
					Params: map[string]string{"patient_id": "p-1"}, Limit: s.n, Transport: cannedTransport{s.body}}
				b.ReportAllocs()
				b.SetBytes(int64(len(s.body)))
				for b.Loop() {
					resp, err := m.c.Search(ctx, req)
					if err != nil {
						b.Fatal(err)
					}
					if len(resp.Records) != s.n {
						b.Fatalf("%d records", len(resp.Records))
					}
				}
			})
		}
	}
}

// BenchmarkCursor seals and opens a next-page cursor as a search with a
// next link does.
func BenchmarkCursor(b *testing.B) {
	s, err := cursor.New([]cursor.Key{{ID: "k1", Secret: []byte("bench-cursor-secret-0123456789abcdef")}}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	bind := cursor.Binding{Client: "app-0", Connection: "c0", Resource: "observations"}
	st := cursor.State{PageToken: "l:Observation?patient=p-1&_count=20&_offset=20", Params: map[string]string{"patient_id": "p-1"}, Limit: 20}
	tok, err := s.Seal(bind, st)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Seal(bind, st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Open(bind, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuditEnqueue is the request path's share of auditing: chaining
// the event and queueing it (delivery happens on the sink's goroutine).
func BenchmarkAuditEnqueue(b *testing.B) {
	fix, err := fixture()
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(b, "http://"+fix.Addr()+harness.FHIRPrefix)
	em := newAudit(b, cfg)
	ctx := context.Background()
	key := []byte("bench-audit-key-0123456789abcdef-t0")
	b.ReportAllocs()
	for b.Loop() {
		ev := &auditlog.Event{RequestID: "req-0123456789", Tenant: "t0", Actor: "app-0", SourceIP: "127.0.0.1",
			Action: auditlog.ActionRead, ResourceType: "patients", Route: "/v1/{connection_id}/patients/{id}",
			Region: "local", Status: 200, RecordCount: 1, Connection: "c0", Connector: "fhir",
			PatientRef: auditlog.PatientRef(key, "t0", "c0", "p-1")}
		em.Emit(ctx, ev)
	}
}
