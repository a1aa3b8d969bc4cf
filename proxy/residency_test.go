package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/residency"
	"github.com/ferryhealth/ferry/unified"
)

// Two regions in one process: a node of "us" that forwards misdirected
// requests and a node of "eu" that redirects them, each with a sandbox
// source of its own that counts its requests. Tenant "demo" lives in us,
// tenant "other" in eu. The end-to-end version, with two ferry processes,
// TLS between them and AWS peers, is cmd/ferry's TestResidencyTwoRegions.

// countingSecrets records every reference resolved through it.
type countingSecrets struct {
	mu   sync.Mutex
	refs []string
}

func (c *countingSecrets) Resolve(ctx context.Context, ref string) (secrets.Value, error) {
	c.mu.Lock()
	c.refs = append(c.refs, ref)
	c.mu.Unlock()
	return secrets.Env{}.Resolve(ctx, ref)
}

func (c *countingSecrets) resolved() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.refs, " ")
}

type regionNode struct {
	env
	secrets *countingSecrets
	hits    *atomic.Int64 // requests the region's source received
}

func startRegions(t *testing.T) map[string]*regionNode {
	t.Helper()
	lns := map[string]net.Listener{}
	srcs := map[string]string{}
	nodes := map[string]*regionNode{}
	for _, r := range []string{"us", "eu"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[r] = ln
		n := &regionNode{secrets: &countingSecrets{}, hits: &atomic.Int64{}}
		n.sb = sandbox.New(sandbox.Options{})
		h := n.sb.Handler()
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.hits.Add(1)
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(up.Close)
		srcs[r] = up.URL + "/fhir/R4"
		nodes[r] = n
	}
	mode := map[string]string{"us": "forward", "eu": "redirect"}
	for _, r := range []string{"us", "eu"} {
		n := nodes[r]
		doc := testConfig(srcs["us"], func(m map[string]any) {
			m["node"].(map[string]any)["region"] = r
			m["misdirected"] = mode[r]
			m["regions"] = []any{
				map[string]any{"name": "us", "endpoint": "http://" + lns["us"].Addr().String()},
				map[string]any{"name": "eu", "endpoint": "http://" + lns["eu"].Addr().String()},
			}
			ts := m["tenants"].([]any)
			ts[0].(map[string]any)["home_region"] = "us"
			ts[1].(map[string]any)["home_region"] = "eu"
			cs := m["connections"].([]any)
			cs[2].(map[string]any)["base_url"] = srcs["eu"]
		})
		cfg, probs := config.Parse(doc, "")
		if len(probs) > 0 {
			t.Fatalf("config: %v", probs)
		}
		ctx := context.Background()
		conns, err := NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New()})
		if err != nil {
			t.Fatal(err)
		}
		n.audit = &syncBuffer{}
		srv, err := New(ctx, Options{Config: cfg, ConfigHash: "cfg-" + r, Connectors: conns, Secrets: n.secrets,
			Audit: &auditlogtest.Recorder{Lines: n.audit}})
		if err != nil {
			t.Fatal(err)
		}
		n.srv = srv
		n.base = "http://" + lns[r].Addr().String()
		go func() { _ = srv.ServeAPI(lns[r], nil) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	return nodes
}

func TestResidencyServeRedirectForward(t *testing.T) {
	nodes := startRegions(t)
	us, eu := nodes["us"], nodes["eu"]

	// Neither node read the other region's tenant's secrets nor built a
	// source for its connections.
	if strings.Contains(us.secrets.resolved(), "audit-key-for-other") || us.srv.tab.Load().connections["other"].source != nil {
		t.Fatalf("the us node holds eu tenant state: %q", us.secrets.resolved())
	}
	if strings.Contains(eu.secrets.resolved(), "audit-key-for-demo") || eu.srv.tab.Load().connections["demo"].source != nil {
		t.Fatalf("the eu node holds us tenant state: %q", eu.secrets.resolved())
	}

	// Home: served.
	if r := us.do(t, "GET", "/v1/demo/patients?limit=2", keyDemo, nil); r.status != 200 {
		t.Fatalf("us serving its tenant: %d %s", r.status, r.body)
	}
	if r := eu.do(t, "GET", "/v1/other/patients?limit=2", keyOther, nil); r.status != 200 {
		t.Fatalf("eu serving its tenant: %d %s", r.status, r.body)
	}
	usHits, euHits := us.hits.Load(), eu.hits.Load()
	if usHits == 0 || euHits == 0 {
		t.Fatalf("sources not called: us %d eu %d", usHits, euHits)
	}

	// Redirect: the eu node answers 421 for the us tenant, naming us.
	r := eu.do(t, "GET", "/v1/demo/patients?limit=2", keyDemo, nil)
	var p unified.Problem
	if r.status != 421 || json.Unmarshal(r.body, &p) != nil || p.Code != unified.CodeMisdirectedRequest {
		t.Fatalf("redirect: %d %s", r.status, r.body)
	}
	if r.header.Get(residency.HeaderHomeEndpoint) != us.base || r.header.Get(residency.HeaderHomeRegion) != "us" {
		t.Fatalf("redirect names %q %q", r.header.Get(residency.HeaderHomeRegion), r.header.Get(residency.HeaderHomeEndpoint))
	}

	// Forward: the us node relays the eu tenant's request; eu serves it.
	r = us.do(t, "GET", "/v1/other/patients?limit=2", keyOther, nil, "X-Request-Id", "fwd-req-1")
	if r.status != 200 || r.header.Get(residency.HeaderServedBy) != "eu" {
		t.Fatalf("forward: %d %v %s", r.status, r.header, r.body)
	}
	var list unified.List[unified.Patient]
	if json.Unmarshal(r.body, &list) != nil || len(list.Data) != 2 {
		t.Fatalf("forwarded body: %s", r.body)
	}
	// Passthrough with a body and a method other than GET is relayed too.
	r = us.do(t, "GET", "/v1/other/passthrough/metadata", keyOther, nil)
	if r.status == 421 || r.header.Get(residency.HeaderServedBy) != "eu" {
		t.Fatalf("forwarded passthrough: %d %s", r.status, r.body)
	}

	// Loop guard: a request already forwarded is never forwarded again.
	r = us.do(t, "GET", "/v1/other/patients?limit=2", keyOther, nil, residency.HeaderForwardedFrom, "eu")
	if r.status != 421 {
		t.Fatalf("forwarded request forwarded again: %d %s", r.status, r.body)
	}
	// A wrong key is refused where it lands, never relayed.
	if r := us.do(t, "GET", "/v1/other/patients", "nope", nil); r.status != 401 {
		t.Fatalf("bad key: %d", r.status)
	}

	// No source of one region saw the other region's traffic: the us
	// source got no more calls after the us tenant's own search.
	if us.hits.Load() != usHits {
		t.Fatalf("the us source was called for eu traffic: %d -> %d", usHits, us.hits.Load())
	}

	// Audit: both regions recorded the forwarded request under one id.
	find := func(n *regionNode, id string) map[string]any {
		for _, ev := range n.audit.events(t) {
			if ev["request_id"] == id {
				return ev
			}
		}
		return nil
	}
	fwd, served := find(us, "fwd-req-1"), find(eu, "fwd-req-1")
	if fwd == nil || fwd["action"] != auditlog.ActionForward || fwd["region"] != "us" || fwd["tenant"] != "other" {
		t.Fatalf("forwarding node's event: %v", fwd)
	}
	if served == nil || served["action"] != auditlog.ActionSearch || served["region"] != "eu" || served["record_count"] != float64(2) {
		t.Fatalf("home node's event: %v", served)
	}
	if f, r := counterValue(us.srv.metrics.misdirected.WithLabelValues("eu", "forward")),
		counterValue(eu.srv.metrics.misdirected.WithLabelValues("us", "redirect")); f != 2 || r != 1 {
		t.Fatalf("ferry_misdirected_requests_total: %v forwards, %v redirects", f, r)
	}
	var refused int
	for _, ev := range eu.audit.events(t) {
		if ev["error_code"] == string(unified.CodeMisdirectedRequest) && ev["action"] == auditlog.ActionRefused && ev["tenant"] == "demo" {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d refused events for the redirect", refused)
	}
}

// TestForwardToUnreachableRegion: a home region that cannot be reached is
// 503 region_unavailable, never served locally.
func TestForwardToUnreachableRegion(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close()
	e := start(t, func(m map[string]any) {
		m["misdirected"] = "forward"
		m["regions"] = []any{
			map[string]any{"name": "us", "endpoint": "http://127.0.0.1:1"},
			map[string]any{"name": "eu", "endpoint": "http://" + addr},
		}
		ts := m["tenants"].([]any)
		ts[0].(map[string]any)["home_region"] = "us"
		ts[1].(map[string]any)["home_region"] = "eu"
	})
	r := e.do(t, "GET", "/v1/other/patients", keyOther, nil)
	var p unified.Problem
	if r.status != 503 || json.Unmarshal(r.body, &p) != nil || p.Code != unified.CodeRegionUnavailable || e.sb == nil {
		t.Fatalf("unreachable home: %d %s", r.status, r.body)
	}
}

func TestHopByHopNotRelayed(t *testing.T) {
	got := connectionTokens([]byte("keep-alive, X-Secret-Hop ,"))
	if !got["x-secret-hop"] || !got["keep-alive"] || len(got) != 2 {
		t.Fatalf("%v", got)
	}
}

// TestForwardRelaysExactly: what the home region receives is the client's
// request less hop-by-hop headers, plus the loop guard and the request id;
// what the client gets is the home's answer, a redirect included (relayed,
// not followed).
func TestForwardRelaysExactly(t *testing.T) {
	var got *http.Request
	var gotBody string
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Location", "http://127.0.0.1:1/moved")
		w.Header().Set("X-Home", "yes")
		w.Header().Set("Connection", "X-Home-Hop")
		w.Header().Set("X-Home-Hop", "1")
		w.WriteHeader(http.StatusFound)
	}))
	defer home.Close()
	e := start(t, func(m map[string]any) {
		m["misdirected"] = "forward"
		m["regions"] = []any{
			map[string]any{"name": "us", "endpoint": "http://127.0.0.1:1"},
			map[string]any{"name": "eu", "endpoint": home.URL + "/api/"},
		}
		ts := m["tenants"].([]any)
		ts[0].(map[string]any)["home_region"] = "us"
		ts[1].(map[string]any)["home_region"] = "eu"
	})
	req, _ := http.NewRequest("POST", e.base+"/v1/other/passthrough/Patient/%2e%2e/x?a=1&b=%2F", strings.NewReader(`{"k":1}`))
	for k, v := range map[string]string{"Authorization": "Bearer " + keyOther, "Connection": "X-Client-Hop", "X-Client-Hop": "1",
		"Proxy-Authorization": "Basic eA==", "Te": "trailers", "X-Request-Id": "fwd-exact-1", "Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := result{status: resp.StatusCode, header: resp.Header}
	if r.status != http.StatusFound || r.header.Get("Location") != "http://127.0.0.1:1/moved" || r.header.Get("X-Home") != "yes" {
		t.Fatalf("answer: %d %v", r.status, r.header)
	}
	if r.header.Get("X-Home-Hop") != "" || r.header.Get(residency.HeaderServedBy) != "eu" {
		t.Fatalf("answer headers: %v", r.header)
	}
	if got == nil {
		t.Fatal("home region not reached")
	}
	if got.Method != "POST" || got.RequestURI != "/api/v1/other/passthrough/Patient/%2e%2e/x?a=1&b=%2F" {
		t.Fatalf("target: %s %s", got.Method, got.RequestURI)
	}
	if gotBody != `{"k":1}` || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("body %q, content type %q", gotBody, got.Header.Get("Content-Type"))
	}
	if got.Header.Get("Authorization") != "Bearer "+keyOther {
		t.Fatal("the client's Authorization was not relayed")
	}
	for _, h := range []string{"X-Client-Hop", "Proxy-Authorization", "Te"} {
		if got.Header.Get(h) != "" {
			t.Errorf("hop-by-hop %s relayed", h)
		}
	}
	if got.Header.Get(residency.HeaderForwardedFrom) != "us" || got.Header.Get("X-Request-Id") != "fwd-exact-1" {
		t.Fatalf("relay headers: %v", got.Header)
	}
	if got.Host != strings.TrimPrefix(home.URL, "http://") {
		t.Fatalf("Host %q", got.Host)
	}
}

// TestForwardStreamsBounded: an answer of the home region streams through
// whole up to max_upstream_body_bytes, and is cut off past it.
func TestForwardStreamsBounded(t *testing.T) {
	const limit = 1 << 20
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := limit / 2
		if r.URL.Query().Get("big") != "" {
			n = 3 * limit
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer home.Close()
	e := start(t, func(m map[string]any) {
		m["misdirected"] = "forward"
		m["limits"].(map[string]any)["max_upstream_body_bytes"] = limit
		m["regions"] = []any{
			map[string]any{"name": "us", "endpoint": "http://127.0.0.1:1"},
			map[string]any{"name": "eu", "endpoint": home.URL},
		}
		ts := m["tenants"].([]any)
		ts[0].(map[string]any)["home_region"] = "us"
		ts[1].(map[string]any)["home_region"] = "eu"
	})
	r := e.do(t, "GET", "/v1/other/passthrough/Binary/1", keyOther, nil)
	if r.status != 200 || len(r.body) != limit/2 || r.header.Get(residency.HeaderServedBy) != "eu" {
		t.Fatalf("streamed answer: %d, %d bytes", r.status, len(r.body))
	}
	req, _ := http.NewRequest("GET", e.base+"/v1/other/passthrough/Binary/1?big=1", nil)
	req.Header.Set("Authorization", "Bearer "+keyOther)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return // cut off before the headers: fine
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && len(b) > limit {
		t.Fatalf("an answer of %d bytes relayed past the %d-byte limit", len(b), limit)
	}
	if err == nil {
		t.Fatalf("an oversized answer ended cleanly (%d bytes)", len(b))
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
