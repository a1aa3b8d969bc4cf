package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/tracing"
	"github.com/ferryhealth/ferry/unified"
)

// These tests run the proxy with the FHIR connector in-process against the
// sandbox FHIR source on 127.0.0.1; the plugin process boundary is covered
// by package plugins and the end-to-end test in cmd/ferry.

const (
	keyDemo    = "key-demo-app"
	keyLimited = "key-demo-limited"
	keyOther   = "key-other-app"
)

func sha(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) events(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

type env struct {
	base  string
	audit *syncBuffer
	sb    *sandbox.Server
	srv   *Server
}

func testConfig(sourceURL string, extra func(map[string]any)) []byte {
	conn := func(id, tenant string) map[string]any {
		return map[string]any{
			"id": id, "tenant": tenant, "connector": "fhir", "base_url": sourceURL,
			"auth": map[string]any{"kind": "none"}, "timeout": "5s",
			"allow_insecure_http": true, "allow_private_network": true,
		}
	}
	tenant := func(id string) map[string]any {
		return map[string]any{"id": id, "secrets": map[string]any{"provider": "env"},
			"audit": map[string]any{"key_ref": "literal:audit-key-for-" + id + "-0123456789abcdef0123"}}
	}
	c := map[string]any{
		"dev_mode": true,
		"node":     map[string]any{"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:1", "region": "us"},
		"limits":   map[string]any{"max_request_body_bytes": 1024},
		"plugins":  []any{map[string]any{"kind": "fhir", "path": "/nonexistent", "sha256": sha("x")}},
		"tenants":  []any{tenant("demo"), tenant("other")},
		"clients": []any{
			map[string]any{"id": "demo-app", "tenant": "demo", "api_key_sha256": sha(keyDemo), "connections": []string{"demo"}},
			map[string]any{"id": "demo-limited", "tenant": "demo", "api_key_sha256": sha(keyLimited), "connections": []string{}},
			map[string]any{"id": "other-app", "tenant": "other", "api_key_sha256": sha(keyOther), "connections": []string{"other"}},
		},
		"connections": []any{conn("demo", "demo"), conn("demo2", "demo"), conn("other", "other")},
	}
	if extra != nil {
		extra(c)
	}
	b, _ := json.Marshal(c)
	return b
}

func start(t testing.TB, mutate func(map[string]any)) *env {
	t.Helper()
	return startWith(t, mutate, envOptions{})
}

// envOptions are the less common parts of a test env.
type envOptions struct {
	tracer *tracing.Tracer
	// wrap, when set, wraps the sandbox source's handler (to look at what
	// reaches the source).
	wrap func(http.Handler) http.Handler
	// readTimeout, when set, replaces the API server's read timeout.
	readTimeout time.Duration
}

func startWith(t testing.TB, mutate func(map[string]any), o envOptions) *env {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	h := sb.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)
	cfg, probs := config.Parse(testConfig(up.URL+"/fhir/R4", mutate), "")
	if len(probs) > 0 {
		t.Fatalf("config: %v", probs)
	}
	ctx := context.Background()
	conns, err := NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New()})
	if err != nil {
		t.Fatal(err)
	}
	audit := &syncBuffer{}
	srv, err := New(ctx, Options{Config: cfg, ConfigHash: "cfg-hash", Connectors: conns,
		Audit: &auditlogtest.Recorder{Lines: audit}, Tracer: o.tracer})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.readTimeout > 0 {
		srv.api.ReadTimeout = o.readTimeout
	}
	go func() { _ = srv.ServeAPI(ln, nil) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &env{base: "http://" + ln.Addr().String(), audit: audit, sb: sb, srv: srv}
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t *testing.T, method, path, key string, body io.Reader, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}
}

func TestSearchAndRead(t *testing.T) {
	e := start(t, nil)
	r := e.do(t, "GET", "/v1/demo/patients?limit=5", keyDemo, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("search: %d %s", r.status, r.body)
	}
	var list unified.List[unified.Patient]
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("search body: %v", err)
	}
	if len(list.Data) != 5 {
		t.Fatalf("want 5 patients, got %d", len(list.Data))
	}
	for _, p := range list.Data {
		if p.ID == "" || p.Source.ConnectionID != "demo" || p.Source.System != "fhir" || len(p.Names) == 0 {
			t.Fatalf("patient not mapped: %+v", p)
		}
	}
	st := r.header.Get("Server-Timing")
	if !strings.Contains(st, "proxy;dur=") || !strings.Contains(st, "upstream;dur=") {
		t.Fatalf("Server-Timing: %q", st)
	}

	id := list.Data[0].ID
	r = e.do(t, "GET", "/v1/demo/patients/"+id, keyDemo, nil)
	var p unified.Patient
	if r.status != 200 || json.Unmarshal(r.body, &p) != nil || p.ID != id {
		t.Fatalf("read: %d %s", r.status, r.body)
	}
	if p.Raw != nil {
		t.Fatal("raw present without raw=true")
	}
	r = e.do(t, "GET", "/v1/demo/patients/"+id+"?raw=true", keyDemo, nil)
	if json.Unmarshal(r.body, &p) != nil || !bytes.Contains(p.Raw, []byte(`"resourceType"`)) {
		t.Fatalf("raw=true: %s", r.body)
	}
}

func TestBadInput(t *testing.T) {
	e := start(t, nil)
	id := e.sb.PatientIDs()[0]
	cases := []struct {
		name, method, path, key string
		body                    io.Reader
		status                  int
		code                    unified.Code
		detail                  string
	}{
		{"no key", "GET", "/v1/demo/patients", "", nil, 401, unified.CodeUnauthenticated, ""},
		{"wrong key", "GET", "/v1/demo/patients", "nope", nil, 401, unified.CodeUnauthenticated, ""},
		{"unknown connection", "GET", "/v1/nosuch/patients", keyDemo, nil, 404, unified.CodeConnectionNotFound, ""},
		{"other tenant's connection", "GET", "/v1/other/patients", keyDemo, nil, 404, unified.CodeConnectionNotFound, ""},
		{"own tenant, not listed", "GET", "/v1/demo/patients", keyLimited, nil, 403, unified.CodeForbidden, ""},
		{"malformed id", "GET", "/v1/demo/patients/a$b", keyDemo, nil, 400, unified.CodeInvalidID, ""},
		{"too long id", "GET", "/v1/demo/patients/" + strings.Repeat("a", 65), keyDemo, nil, 400, unified.CodeInvalidID, ""},
		{"unknown id", "GET", "/v1/demo/patients/does-not-exist", keyDemo, nil, 404, unified.CodeNotFound, ""},
		{"unknown param is not echoed", "GET", "/v1/demo/patients?colour=red", keyDemo, nil, 400, unified.CodeInvalidParameter, ""},
		{"a standard filter the resource lacks is named", "GET", "/v1/demo/patients?code=x", keyDemo, nil, 400, unified.CodeInvalidParameter, "code"},
		{"param on read", "GET", "/v1/demo/patients/" + id + "?name=x", keyDemo, nil, 400, unified.CodeInvalidParameter, "name"},
		{"PHI-looking param name is not echoed", "GET", "/v1/demo/patients?John%20Smith=1", keyDemo, nil, 400, unified.CodeInvalidParameter, ""},
		{"limit 0", "GET", "/v1/demo/patients?limit=0", keyDemo, nil, 400, unified.CodeInvalidParameter, "limit"},
		{"limit 201", "GET", "/v1/demo/patients?limit=201", keyDemo, nil, 400, unified.CodeInvalidParameter, "limit"},
		{"limit abc", "GET", "/v1/demo/patients?limit=abc", keyDemo, nil, 400, unified.CodeInvalidParameter, "limit"},
		{"repeated param", "GET", "/v1/demo/patients?name=a&name=b", keyDemo, nil, 400, unified.CodeInvalidParameter, "name"},
		{"bad birth date", "GET", "/v1/demo/patients?birth_date=yesterday", keyDemo, nil, 400, unified.CodeInvalidParameter, "birth_date"},
		{"unknown resource", "GET", "/v1/demo/spaceships", keyDemo, nil, 404, unified.CodeNotFound, ""},
		{"required filter missing", "GET", "/v1/demo/encounters", keyDemo, nil, 400, unified.CodeMissingParameter, "patient_id"},
		{"malformed standard filter", "GET", "/v1/demo/encounters?patient_id=a/b", keyDemo, nil, 400, unified.CodeInvalidParameter, "patient_id"},
		{"malformed date filter", "GET", "/v1/demo/encounters?patient_id=a&date_gte=soon", keyDemo, nil, 400, unified.CodeInvalidParameter, "date_gte"},
		{"unknown field in mask", "GET", "/v1/demo/patients?fields=names,colour", keyDemo, nil, 400, unified.CodeInvalidParameter, "fields"},
		{"forged cursor", "GET", "/v1/demo/patients?cursor=AQJrMQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", keyDemo, nil, 400, unified.CodeInvalidCursor, ""},
		{"passthrough without scope", "GET", "/v1/demo/passthrough/metadata", keyDemo, nil, 403, unified.CodeForbidden, ""},
		{"unknown path", "GET", "/v2/whatever", keyDemo, nil, 404, unified.CodeNotFound, ""},
		{"deep path", "GET", "/v1/demo/patients/1/extra", keyDemo, nil, 404, unified.CodeNotFound, ""},
		{"POST without write scope", "POST", "/v1/demo/patients", keyDemo, strings.NewReader("{}"), 403, unified.CodeForbidden, ""},
		{"PUT", "PUT", "/v1/demo/patients", keyDemo, strings.NewReader("{}"), 405, unified.CodeMethodNotAllowed, ""},
		{"oversized body", "POST", "/v1/demo/patients", keyDemo, strings.NewReader(strings.Repeat("x", 4096)), 413, unified.CodeRequestTooLarge, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, c.method, c.path, c.key, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p unified.Problem
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("problem body: %v: %s", err, r.body)
			}
			if p.Code != c.code || p.Status != c.status || p.Detail != c.detail || p.Title == "" ||
				p.Type != unified.ProblemTypeBase+string(c.code) {
				t.Fatalf("problem %+v, want code %s detail %q", p, c.code, c.detail)
			}
			if p.RequestID == "" || p.RequestID != r.header.Get("X-Request-Id") {
				t.Fatalf("request id %q vs header %q", p.RequestID, r.header.Get("X-Request-Id"))
			}
		})
	}
	// One audit event per request, refused ones included.
	evs := e.audit.events(t)
	if len(evs) != len(cases) {
		t.Fatalf("%d audit events for %d requests", len(evs), len(cases))
	}
	for i, ev := range evs {
		if int(ev["status"].(float64)) != cases[i].status || ev["error_code"] != string(cases[i].code) {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
	if evs[0]["action"] != "refused" || evs[0]["tenant"] != nil {
		t.Fatalf("unauthenticated event: %v", evs[0])
	}
	if evs[4]["tenant"] != "demo" || evs[4]["actor"] != "demo-limited" {
		t.Fatalf("forbidden event: %v", evs[4])
	}
}

func TestRequestID(t *testing.T) {
	e := start(t, nil)
	r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil, "X-Request-Id", "client-abc.123")
	if r.header.Get("X-Request-Id") != "client-abc.123" {
		t.Fatalf("caller id not kept: %q", r.header.Get("X-Request-Id"))
	}
	r = e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil, "X-Request-Id", "has spaces & PHI?")
	got := r.header.Get("X-Request-Id")
	if got == "" || strings.Contains(got, " ") {
		t.Fatalf("unsafe caller id kept: %q", got)
	}
	r = e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil)
	if len(r.header.Get("X-Request-Id")) != 32 {
		t.Fatalf("generated id %q", r.header.Get("X-Request-Id"))
	}
}

// TestAuditHasNoPHI reads patients, then checks that no name, birth date or
// source id of theirs appears anywhere in the audit stream.
func TestAuditHasNoPHI(t *testing.T) {
	e := start(t, nil)
	r := e.do(t, "GET", "/v1/demo/patients?limit=10", keyDemo, nil, "X-Purpose-Of-Use", "TREAT")
	var list unified.List[unified.Patient]
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Data) == 0 {
		t.Fatalf("search: %s", r.body)
	}
	var canaries []string
	for _, p := range list.Data {
		e.do(t, "GET", "/v1/demo/patients/"+p.ID, keyDemo, nil)
		canaries = append(canaries, p.ID, p.BirthDate)
		for _, n := range p.Names {
			canaries = append(canaries, n.Family)
			canaries = append(canaries, n.Given...)
		}
		for _, id := range p.Identifiers {
			canaries = append(canaries, id.Value)
		}
	}
	e.do(t, "GET", "/v1/demo/patients?name="+list.Data[0].Names[0].Family, keyDemo, nil)
	stream := e.audit.String()
	for _, c := range canaries {
		if len(c) >= 4 && strings.Contains(stream, c) {
			t.Fatalf("audit stream contains %q", c)
		}
	}
	evs := e.audit.events(t)
	if len(evs) != 2+len(list.Data) {
		t.Fatalf("%d events", len(evs))
	}
	if evs[0]["action"] != "search" || evs[0]["purpose_of_use"] != "TREAT" || int(evs[0]["record_count"].(float64)) != len(list.Data) {
		t.Fatalf("search event: %v", evs[0])
	}
	read := evs[1]
	ref, _ := read["patient_ref"].(string)
	if read["action"] != "read" || !strings.HasPrefix(ref, "hmac-sha256:") || read["route"] != routeRead {
		t.Fatalf("read event: %v", read)
	}
	want := auditlog.PatientRef([]byte("audit-key-for-demo-0123456789abcdef0123"), "demo", "demo", list.Data[0].ID)
	if ref != want {
		t.Fatalf("patient_ref %s, want %s", ref, want)
	}
}

func TestUpstreamFailuresMapToProblems(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/Patient/slow"):
			time.Sleep(2 * time.Second)
		case strings.HasSuffix(r.URL.Path, "/Patient/boom"):
			w.WriteHeader(500)
			fmt.Fprint(w, `{"resourceType":"OperationOutcome","issue":[{"diagnostics":"secret upstream text"}]}`)
		case strings.HasSuffix(r.URL.Path, "/Patient/garbage"):
			w.Header().Set("Content-Type", "application/fhir+json")
			fmt.Fprint(w, `{"resourceType":"Patient","id":`)
		case strings.HasSuffix(r.URL.Path, "/Patient/huge"):
			w.Header().Set("Content-Type", "application/fhir+json")
			fmt.Fprintf(w, `{"resourceType":"Patient","id":"huge","text":{"div":"%s"}}`, strings.Repeat("x", 64<<10))
		}
	}))
	defer slow.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()

	e := start(t, func(c map[string]any) {
		c["limits"].(map[string]any)["max_upstream_body_bytes"] = 32 << 10
		conns := c["connections"].([]any)
		conns[0].(map[string]any)["base_url"] = slow.URL + "/fhir"
		conns[0].(map[string]any)["timeout"] = "500ms"
		conns[1].(map[string]any)["base_url"] = deadURL
		conns[1].(map[string]any)["allow_private_network"] = true
		c["clients"].([]any)[0].(map[string]any)["connections"] = []string{"demo", "demo2"}
	})
	for _, c := range []struct {
		path   string
		status int
		code   unified.Code
	}{
		{"/v1/demo/patients/boom", 502, unified.CodeUpstreamError},
		{"/v1/demo/patients/garbage", 502, unified.CodeUpstreamError},
		{"/v1/demo/patients/huge", 502, unified.CodeUpstreamError},
		{"/v1/demo/patients/slow", 504, unified.CodeUpstreamTimeout},
		{"/v1/demo2/patients/x", 503, unified.CodeSourceUnavailable},
	} {
		start := time.Now()
		r := e.do(t, "GET", c.path, keyDemo, nil)
		var p unified.Problem
		_ = json.Unmarshal(r.body, &p)
		if r.status != c.status || p.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.path, r.status, r.body, c.status, c.code)
		}
		if bytes.Contains(r.body, []byte("secret upstream text")) {
			t.Errorf("%s: upstream text leaked", c.path)
		}
		if time.Since(start) > 600*time.Millisecond {
			t.Errorf("%s took %v with a 500ms deadline", c.path, time.Since(start))
		}
	}
}

func TestEgressRefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	e := start(t, func(c map[string]any) {
		c["connections"].([]any)[0].(map[string]any)["allow_private_network"] = false
	})
	r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil)
	if r.status != 503 || !bytes.Contains(r.body, []byte(`"source_unavailable"`)) {
		t.Fatalf("loopback source reached without allow_private_network: %d %s", r.status, r.body)
	}
}

func TestValidRelativePath(t *testing.T) {
	for p, want := range map[string]bool{
		"Patient/123": true, "Patient": true, "Patient/a.b-c": true, "Observation/_search": true,
		"": false, "/Patient": false, "../Patient": false, "Patient/../x": false, "%2e%2e/x": false,
		"Patient/%2E%2e": false, "a/%2F/b": false, "http://evil/x": false, "//evil/x": false,
		"Patient?x=1": false, "Patient#x": false, "a\\b": false, "a b": false, "a\x00": false, "Patient/.": false,
	} {
		if got := connectors.ValidRelativePath(p); got != want {
			t.Errorf("validRelativePath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestOutboundAuthInjected: the host, not the connector, puts the
// connection's credential on the source request, resolved from its secret
// reference; a wrong credential is the source's 401, reported without its
// text.
func TestOutboundAuthInjected(t *testing.T) {
	const token = "source-token-canary-91ab"
	sb := sandbox.New(sandbox.Options{RequireBearer: token})
	up := httptest.NewServer(sb.Handler())
	defer up.Close()
	for _, c := range []struct {
		ref    string
		status int
	}{{"literal:" + token, 200}, {"literal:wrong", 502}, {"env:FERRY_TEST_UNSET_VAR", 503}} {
		cfgJSON := testConfig(up.URL+"/fhir/R4", func(m map[string]any) {
			m["connections"].([]any)[0].(map[string]any)["auth"] = map[string]any{"kind": "bearer", "secret_ref": c.ref}
		})
		cfg, probs := config.Parse(cfgJSON, "")
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		conns, _ := NewInProcess(context.Background(), cfg, map[string]connectors.Connector{"fhir": fhir.New()})
		audit := &syncBuffer{}
		srv, err := New(context.Background(), Options{Config: cfg, Connectors: conns, Audit: &auditlogtest.Recorder{Lines: audit}})
		if err != nil {
			t.Fatal(err)
		}
		var rc fasthttp.RequestCtx
		rc.Request.SetRequestURI("/v1/demo/patients?limit=1")
		rc.Request.Header.Set("Authorization", "Bearer "+keyDemo)
		srv.serveAPI(&rc)
		if rc.Response.StatusCode() != c.status {
			t.Fatalf("%s: status %d: %s", c.ref, rc.Response.StatusCode(), rc.Response.Body())
		}
		if strings.Contains(audit.String(), token) || strings.Contains(string(rc.Response.Body()), token) {
			t.Fatal("credential leaked into the audit event or the response")
		}
	}
}

// TestOpenAPIIsPublic: the API document needs no key, and every stage
// lets it through without a client (a stage that assumed one panicked).
func TestOpenAPIIsPublic(t *testing.T) {
	e := start(t, nil)
	r := e.do(t, "GET", "/v1/openapi.json", "", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || !bytes.Contains(r.body, []byte(`"openapi"`)) {
		t.Fatalf("openapi: %d %s %.200s", r.status, r.header.Get("Content-Type"), r.body)
	}
}
