//go:build unix

package proxy

// Tenant-owned credentials end to end, in-process: the proxy with the FHIR
// connector; sandbox FHIR sources on 127.0.0.1 that demand a credential;
// moto (internal/testpeer, started on 127.0.0.1) behind a counting reverse
// proxy as the tenants' AWS accounts, reached by AssumeRole with an
// ExternalId; SMART token endpoints that verify client assertions with
// go-jose and the tenant's public key. Every scenario ends with the secret
// canary check: no secret in audit events, logs, problem bodies or
// /metrics.
//
// Alone: go test -race -run TestCredentials ./proxy/

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/outauth"
	"github.com/ferryhealth/ferry/proxy/secrets/awssm"
	"github.com/ferryhealth/ferry/unified"
)

// credCanary is part of every secret value and token of these tests.
const credCanary = "CANARY-ferry-cred-3b9e71"

const (
	credRegion = "eu-west-1"
	credAcctA  = "222222222222"
	credAcctB  = "333333333333"
	credRoleA  = "arn:aws:iam::" + credAcctA + ":role/ferry-reader"
	credRoleB  = "arn:aws:iam::" + credAcctB + ":role/ferry-reader"
	credExtA   = "ext-tenant-a-91f2"
	credExtB   = "ext-tenant-b-07c4"
)

// credNode is the node's own identity (moto's default account).
var credNode = credentials.NewStaticCredentialsProvider("AKIAFERRYNODE000000", "node-secret-key", "")

// TestCredentials runs the scenarios against one moto.
func TestCredentials(t *testing.T) {
	m := testpeer.StartMoto(t)
	e := &credEnv{moto: m, front: newAWSFront(t, m.Endpoint)}
	t.Setenv("FERRY_TEST_CURSOR_KEY", "cursor-key-for-credential-tests-0123456789")
	t.Run("TwoTenantsTwoAccounts", e.testTwoTenants)
	t.Run("RotationMidTraffic", e.testRotation)
	t.Run("SecretsManagerDown", e.testDown)
	t.Run("SMARTBackendServices", e.testSMART)
	t.Run("ClientCredentials", e.testClientCredentials)
}

// credEnv is one moto and its front, shared by the scenarios.
type credEnv struct {
	moto  *testpeer.Moto
	front *awsFront
}

// awsFront is a reverse proxy in front of moto, on 127.0.0.1, that counts
// the AWS calls it relays (GetSecretValue per secret ARN, AssumeRole per
// role) and can play a Secrets Manager outage.
type awsFront struct {
	URL string
	rp  *httputil.ReverseProxy

	mu       sync.Mutex
	reads    map[string]int    // GetSecretValue by SecretId
	returned map[string]string // SecretId -> the ARN moto answered with
	assumed  map[string]string // RoleArn -> ExternalId of AssumeRole calls
	assumes  int
	down     bool
}

type secretIDKey struct{}

func newAWSFront(t *testing.T, target string) *awsFront {
	u, _ := url.Parse(target)
	f := &awsFront{rp: httputil.NewSingleHostReverseProxy(u), reads: map[string]int{}, returned: map[string]string{}, assumed: map[string]string{}}
	f.rp.ErrorLog = log.New(io.Discard, "", 0)
	f.rp.ModifyResponse = func(resp *http.Response) error {
		id, _ := resp.Request.Context().Value(secretIDKey{}).(string)
		if id == "" || resp.StatusCode != 200 {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		var out struct{ ARN string }
		_ = json.Unmarshal(b, &out)
		f.mu.Lock()
		f.returned[id] = out.ARN
		f.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *awsFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	target := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	down := f.down
	switch {
	case strings.HasSuffix(target, ".GetSecretValue"):
		var in struct{ SecretId string }
		_ = json.Unmarshal(body, &in)
		f.reads[in.SecretId]++
		r = r.WithContext(context.WithValue(r.Context(), secretIDKey{}, in.SecretId))
	case target == "":
		if q, err := url.ParseQuery(string(body)); err == nil && q.Get("Action") == "AssumeRole" {
			f.assumes++
			f.assumed[q.Get("RoleArn")] = q.Get("ExternalId")
		}
	}
	f.mu.Unlock()
	if down && target != "" {
		// A dead endpoint: the connection closes without an answer.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	f.rp.ServeHTTP(w, r)
}

func (f *awsFront) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

// readsOf is the number of GetSecretValue calls for arn so far.
func (f *awsFront) readsOf(arn string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[arn]
}

func (f *awsFront) totalReads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.reads {
		n += c
	}
	return n
}

// admin is the tenant's own Secrets Manager client, inside the tenant's
// account (the tenant's side of the test, straight to moto).
func (e *credEnv) admin(role, ext string) *secretsmanager.Client {
	cfg := aws.Config{Region: credRegion, Credentials: credNode}
	stsc := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.moto.Endpoint) })
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, role, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(ext)
		o.RoleSessionName = "tenant-admin"
	}))
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(e.moto.Endpoint) })
}

// createSecret makes a secret and checks moto put it in account.
func createSecret(t *testing.T, sm *secretsmanager.Client, name, value, account string) string {
	t.Helper()
	out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	arn := aws.ToString(out.ARN)
	if want := "arn:aws:secretsmanager:" + credRegion + ":" + account + ":secret:" + name + "-"; !strings.HasPrefix(arn, want) {
		t.Fatalf("moto created %s, want an ARN starting %s", arn, want)
	}
	return arn
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// guardedSource is a sandbox FHIR source that answers 401 unless a request
// carries one of the accepted values of its auth header. It counts its
// refusals per X-Request-Id (the proxy forwards its request id).
type guardedSource struct {
	URL    string // the FHIR base URL
	sb     *sandbox.Server
	header string

	mu      sync.Mutex
	valid   map[string]bool
	served  int
	refused map[string]int
}

func newGuardedSource(t *testing.T, header string, accepted ...string) *guardedSource {
	g := &guardedSource{sb: sandbox.New(sandbox.Options{}), header: header, refused: map[string]int{}}
	g.set(accepted...)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	g.URL = srv.URL + sandbox.Prefix
	return g
}

func (g *guardedSource) set(accepted ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.valid = map[string]bool{}
	for _, a := range accepted {
		g.valid[a] = true
	}
}

func (g *guardedSource) add(v string) {
	g.mu.Lock()
	g.valid[v] = true
	g.mu.Unlock()
}

func (g *guardedSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	ok := g.valid[r.Header.Get(g.header)]
	if ok {
		g.served++
	} else {
		g.refused[r.Header.Get("X-Request-Id")]++
	}
	g.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, `{"resourceType":"OperationOutcome"}`, http.StatusUnauthorized)
		return
	}
	g.sb.Handler().ServeHTTP(w, r)
}

// refusals returns the number of 401s and the most any one request got.
func (g *guardedSource) refusals() (total, maxPerRequest int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.refused {
		total += n
		maxPerRequest = max(maxPerRequest, n)
	}
	return total, maxPerRequest
}

// Config builders.

type credTenant struct{ id, role, ext, auditRef string }

type credConn struct {
	id, tenant, baseURL string
	auth                map[string]any
	noPrivate           bool // leave allow_private_network off
}

type credClient struct {
	id, tenant, key string
	conns           []string
}

func credConfig(frontURL string, tenants []credTenant, conns []credConn, clients []credClient) []byte {
	var ts, cs, cls []any
	for _, t := range tenants {
		ts = append(ts, map[string]any{
			"id": t.id, "home_region": "eu",
			"secrets": map[string]any{"provider": "aws", "region": credRegion, "role_arn": t.role, "external_id": t.ext,
				"endpoint": frontURL},
			"audit": map[string]any{"key_ref": t.auditRef},
		})
	}
	for _, c := range conns {
		cs = append(cs, map[string]any{
			"id": c.id, "tenant": c.tenant, "connector": "fhir", "base_url": c.baseURL, "auth": c.auth, "timeout": "8s",
			"allow_insecure_http": true, "allow_private_network": !c.noPrivate,
		})
	}
	for _, c := range clients {
		cls = append(cls, map[string]any{"id": c.id, "tenant": c.tenant, "api_key_sha256": sha(c.key), "connections": c.conns})
	}
	// Not dev_mode: the production rules apply (aws provider, https token
	// URLs unless the connection allows http, a cursor key).
	b, _ := json.Marshal(map[string]any{
		"node":        map[string]any{"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:1", "region": "eu"},
		"regions":     []any{map[string]any{"name": "eu", "endpoint": "https://eu.ferry.example", "aws_regions": []string{credRegion}}},
		"plugins":     []any{map[string]any{"kind": "fhir", "path": "/nonexistent", "sha256": sha("x")}},
		"cursor":      map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:FERRY_TEST_CURSOR_KEY"}}},
		"tenants":     ts,
		"clients":     cls,
		"connections": cs,
	})
	return b
}

// credServer is a running proxy and everything it wrote.
type credServer struct {
	base, admin string
	srv         *Server
	audit       *syncBuffer
	logs        *syncBuffer
	bodies      *syncBuffer // every response body a test received
}

func (e *credEnv) startProxy(t *testing.T, doc []byte, tune func(*awssm.Options)) *credServer {
	t.Helper()
	cfg, probs := config.Parse(doc, "")
	if len(probs) > 0 {
		t.Fatalf("config: %v", probs)
	}
	cs := &credServer{audit: &syncBuffer{}, logs: &syncBuffer{}, bodies: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(cs.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	providers, err := NewTenantSecrets(cfg, SecretsOptions{AWSCredentials: credNode, Logger: logger, TuneAWS: func(o *awssm.Options) {
		o.MaxAttempts = 1
		o.FetchTimeout = 5 * time.Second
		if tune != nil {
			tune(o)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	conns, err := NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New()})
	if err != nil {
		t.Fatal(err)
	}
	cs.srv, err = New(ctx, Options{Config: cfg, ConfigHash: "cfg-hash", Connectors: conns, TenantSecrets: providers,
		Audit: &auditlogtest.Recorder{Lines: cs.audit}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	api, _ := net.Listen("tcp", "127.0.0.1:0")
	adm, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = cs.srv.ServeAPI(api, nil) }()
	go func() { _ = cs.srv.ServeAdmin(adm) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cs.srv.Shutdown(ctx)
	})
	cs.base, cs.admin = "http://"+api.Addr().String(), "http://"+adm.Addr().String()
	return cs
}

var credHTTP = &http.Client{Timeout: 20 * time.Second}

// get sends a GET with the client's key and returns status, problem code
// (if any) and body.
func (cs *credServer) get(t testing.TB, key, path string) (int, unified.Code, []byte) {
	req, _ := http.NewRequest("GET", cs.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := credHTTP.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	cs.bodies.Write(append(b, '\n'))
	var p unified.Problem
	if resp.StatusCode != 200 {
		_ = json.Unmarshal(b, &p)
	}
	return resp.StatusCode, p.Code, b
}

// noCanary checks every output of the server for the secret canary.
func (cs *credServer) noCanary(t *testing.T) {
	t.Helper()
	resp, err := http.Get(cs.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte("ferry_requests_total")) {
		t.Fatalf("no metrics: %.200s", metrics)
	}
	for name, out := range map[string]string{
		"audit events": cs.audit.String(), "logs": cs.logs.String(), "response bodies": cs.bodies.String(), "metrics": string(metrics),
	} {
		if strings.Contains(out, credCanary) {
			t.Errorf("a secret reached the %s", name)
		}
	}
}

func (cs *credServer) patientPath(conn string, sb *sandbox.Server) string {
	return "/v1/" + conn + "/patients/" + sb.PatientIDs()[0]
}

// testTwoTenants: two tenants in two AWS accounts, each reached by
// AssumeRole with its own ExternalId. Each tenant's connections resolve
// that tenant's secrets only (moto answers with ARNs of the tenant's
// account), and no request of tenant A's client reads any of tenant B's
// secrets, counted per ARN at the front.
func (e *credEnv) testTwoTenants(t *testing.T) {
	admA, admB := e.admin(credRoleA, credExtA), e.admin(credRoleB, credExtB)
	audA := createSecret(t, admA, "ferry/audit", mustJSON(map[string]string{"key": "audit-key-tenant-a-0123456789abcdef-" + credCanary}), credAcctA)
	audB := createSecret(t, admB, "ferry/audit", mustJSON(map[string]string{"key": "audit-key-tenant-b-0123456789abcdef-" + credCanary}), credAcctB)
	// The same secret name in both accounts, different values.
	tokA := createSecret(t, admA, "ferry/epic", mustJSON(map[string]string{"token": "a-" + credCanary}), credAcctA)
	tokB := createSecret(t, admB, "ferry/epic", mustJSON(map[string]string{"token": "b-" + credCanary}), credAcctB)
	basicA := createSecret(t, admA, "ferry/lab", mustJSON(map[string]string{"username": "ferry", "password": "pw-" + credCanary}), credAcctA)
	keyA := createSecret(t, admA, "ferry/pms", "k-"+credCanary, credAcctA)

	srcA := newGuardedSource(t, "Authorization", "Bearer a-"+credCanary)
	srcLab := newGuardedSource(t, "Authorization", "Basic "+basicB64("ferry:pw-"+credCanary))
	srcPMS := newGuardedSource(t, "X-Api-Key", "k-"+credCanary)
	srcB := newGuardedSource(t, "Authorization", "Bearer b-"+credCanary)
	doc := credConfig(e.front.URL,
		[]credTenant{{"tenant-a", credRoleA, credExtA, audA + "#key"}, {"tenant-b", credRoleB, credExtB, audB + "#key"}},
		[]credConn{
			{id: "a-epic", tenant: "tenant-a", baseURL: srcA.URL, auth: map[string]any{"kind": "bearer", "secret_ref": tokA + "#token"}},
			{id: "a-lab", tenant: "tenant-a", baseURL: srcLab.URL, auth: map[string]any{"kind": "basic", "secret_ref": basicA}},
			{id: "a-pms", tenant: "tenant-a", baseURL: srcPMS.URL, auth: map[string]any{"kind": "api_key", "secret_ref": keyA, "header": "X-Api-Key"}},
			{id: "b-epic", tenant: "tenant-b", baseURL: srcB.URL, auth: map[string]any{"kind": "bearer", "secret_ref": tokB + "#token"}},
		},
		[]credClient{{"app-a", "tenant-a", "key-app-a", []string{"a-epic", "a-lab", "a-pms"}}, {"app-b", "tenant-b", "key-app-b", []string{"b-epic"}}})

	// Tenant A naming tenant B's secret is refused at load, before any call.
	bad := bytes.Replace(doc, []byte(tokA+"#token"), []byte(tokB+"#token"), 1)
	if _, probs := config.Parse(bad, ""); len(probs) != 1 || !strings.Contains(probs[0].Message, "account "+credAcctB) {
		t.Fatalf("tenant A's connection naming tenant B's secret: %v", probs)
	}

	cs := e.startProxy(t, doc, nil)
	// Start-up read each tenant's audit key with the tenant's own role.
	if e.front.readsOf(audA) != 1 || e.front.readsOf(audB) != 1 {
		t.Fatalf("audit key reads at start: A %d, B %d", e.front.readsOf(audA), e.front.readsOf(audB))
	}
	bSecrets := []string{audB, tokB}
	bBefore := make([]int, len(bSecrets))
	for i, arn := range bSecrets {
		bBefore[i] = e.front.readsOf(arn)
	}

	// Tenant A's client, on its own connections and, refused, on B's.
	for range 20 {
		for _, c := range []struct {
			conn string
			sb   *sandbox.Server
		}{{"a-epic", srcA.sb}, {"a-lab", srcLab.sb}, {"a-pms", srcPMS.sb}} {
			if st, code, b := cs.get(t, "key-app-a", cs.patientPath(c.conn, c.sb)); st != 200 {
				t.Fatalf("%s: %d %s %s", c.conn, st, code, b)
			}
		}
		if st, code, _ := cs.get(t, "key-app-a", cs.patientPath("b-epic", srcB.sb)); st != 404 || code != unified.CodeConnectionNotFound {
			t.Fatalf("tenant A's client on tenant B's connection: %d %s", st, code)
		}
	}
	for i, arn := range bSecrets {
		if n := e.front.readsOf(arn); n != bBefore[i] {
			t.Fatalf("tenant A's requests caused %d reads of tenant B's secret %s", n-bBefore[i], arn)
		}
	}
	// One read per secret for 60 requests: the cache.
	for _, arn := range []string{tokA, basicA, keyA} {
		if n := e.front.readsOf(arn); n != 1 {
			t.Fatalf("%d reads of %s, want 1", n, arn)
		}
	}
	aReads := map[string]int{}
	for _, arn := range []string{audA, tokA, basicA, keyA} {
		aReads[arn] = e.front.readsOf(arn)
	}
	if st, code, b := cs.get(t, "key-app-b", cs.patientPath("b-epic", srcB.sb)); st != 200 {
		t.Fatalf("tenant B: %d %s %s", st, code, b)
	}
	for arn, n := range aReads {
		if e.front.readsOf(arn) != n {
			t.Fatalf("tenant B's request read tenant A's secret %s", arn)
		}
	}
	if e.front.readsOf(tokB) != 1 {
		t.Fatalf("tenant B's token read %d times", e.front.readsOf(tokB))
	}

	// What moto answered: every ARN in the account of the tenant that asked;
	// each role assumed with its own ExternalId.
	e.front.mu.Lock()
	for id, arn := range e.front.returned {
		acct := credAcctA
		if id == audB || id == tokB {
			acct = credAcctB
		}
		if arn != id || !strings.Contains(arn, ":"+acct+":secret:") {
			t.Errorf("asked %s, moto answered %s", id, arn)
		}
	}
	if e.front.assumed[credRoleA] != credExtA || e.front.assumed[credRoleB] != credExtB {
		t.Errorf("AssumeRole calls: %v", e.front.assumed)
	}
	e.front.mu.Unlock()
	cs.noCanary(t)
}

// testRotation: concurrent traffic while the tenant rotates the secret;
// the source then accepts only the new token. Requests that carried the
// old one get one 401, which forces one shared re-read, and are resent
// once: every request succeeds, none is refused twice. Then the same with
// a rotation function's AWSPENDING stage.
func (e *credEnv) testRotation(t *testing.T) {
	adm := e.admin(credRoleA, credExtA)
	aud := createSecret(t, adm, "ferry/rot-audit", "audit-key-rotation-0123456789abcdef-"+credCanary, credAcctA)
	arn := createSecret(t, adm, "ferry/rot", mustJSON(map[string]string{"token": "v1-" + credCanary}), credAcctA)
	src := newGuardedSource(t, "Authorization", "Bearer v1-"+credCanary)
	doc := credConfig(e.front.URL, []credTenant{{"tenant-a", credRoleA, credExtA, aud}},
		[]credConn{{id: "rot", tenant: "tenant-a", baseURL: src.URL, auth: map[string]any{"kind": "bearer", "secret_ref": arn + "#token"}}},
		[]credClient{{"app", "tenant-a", "key-rot", []string{"rot"}}})
	const minForced = time.Second
	cs := e.startProxy(t, doc, func(o *awssm.Options) { o.MinForcedRefreshInterval = minForced })
	path := cs.patientPath("rot", src.sb)
	if st, _, b := cs.get(t, "key-rot", path); st != 200 {
		t.Fatalf("warm-up: %d %s", st, b)
	}

	// traffic runs 8 clients until the returned func is called, which
	// reports the number of requests and every failure.
	traffic := func() func() (int, []string) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var n atomic.Int64
		var mu sync.Mutex
		var failures []string
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					st, code, _ := cs.get(t, "key-rot", path)
					n.Add(1)
					if st != 200 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%d %s", st, code))
						mu.Unlock()
					}
				}
			}()
		}
		return func() (int, []string) {
			cancel()
			wg.Wait()
			return int(n.Load()), failures
		}
	}

	stop := traffic()
	time.Sleep(300 * time.Millisecond)
	reads0 := e.front.readsOf(arn)
	// The tenant rotates: a new AWSCURRENT, and the source drops the old
	// token.
	if _, err := adm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn),
		SecretString: aws.String(mustJSON(map[string]string{"token": "v2-" + credCanary}))}); err != nil {
		t.Fatal(err)
	}
	src.set("Bearer v2-" + credCanary)
	time.Sleep(700 * time.Millisecond)
	n, failures := stop()
	refused, worst := src.refusals()
	t.Logf("rotation to a new AWSCURRENT: %d requests, %d refused once by the source, %d Secrets Manager reads", n, refused, e.front.readsOf(arn)-reads0)
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed across the rotation: %v", len(failures), n, failures[:min(len(failures), 5)])
	}
	if refused == 0 || worst != 1 {
		t.Fatalf("source refusals: %d in all, at most %d for one request (want ≥1, and 1)", refused, worst)
	}
	if r := e.front.readsOf(arn) - reads0; r < 1 || r > 2 {
		t.Fatalf("the rotation cost %d reads, want one shared forced read (two at most)", r)
	}

	// A rotation function's run: the new value is staged AWSPENDING, the
	// source already takes it, AWSCURRENT still holds the old one.
	time.Sleep(minForced) // past the forced-refresh rate limit
	if _, err := adm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn),
		SecretString:  aws.String(mustJSON(map[string]string{"token": "v3-" + credCanary})),
		VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	refused0, _ := src.refusals()
	stop = traffic()
	time.Sleep(200 * time.Millisecond)
	src.set("Bearer v3-" + credCanary)
	time.Sleep(700 * time.Millisecond)
	n, failures = stop()
	refused, worst = src.refusals()
	t.Logf("rotation through AWSPENDING: %d requests, %d refused once by the source", n, refused-refused0)
	if len(failures) > 0 || refused == refused0 || worst != 1 {
		t.Fatalf("AWSPENDING rotation: %d failures %v, %d refusals, at most %d per request", len(failures), failures[:min(len(failures), 5)], refused-refused0, worst)
	}
	if !strings.Contains(cs.logs.String(), "serving the pending version") {
		t.Fatal("the pending version was not logged as such")
	}
	cs.noCanary(t)
}

// credClock is the secrets cache's clock in the outage scenario.
type credClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *credClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *credClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testDown: Secrets Manager unreachable. Cached values serve until the TTL,
// with one failed background read and no call per request; then 503
// credentials_unavailable, audited; back up, recovery without a restart.
func (e *credEnv) testDown(t *testing.T) {
	adm := e.admin(credRoleA, credExtA)
	aud := createSecret(t, adm, "ferry/down-audit", "audit-key-down-0123456789abcdef-"+credCanary, credAcctA)
	arn := createSecret(t, adm, "ferry/down", "d-"+credCanary, credAcctA)
	src := newGuardedSource(t, "Authorization", "Bearer d-"+credCanary)
	doc := credConfig(e.front.URL, []credTenant{{"tenant-a", credRoleA, credExtA, aud}},
		[]credConn{{id: "down", tenant: "tenant-a", baseURL: src.URL, auth: map[string]any{"kind": "bearer", "secret_ref": arn}}},
		[]credClient{{"app", "tenant-a", "key-down", []string{"down"}}})
	clock := &credClock{t: time.Now()}
	cs := e.startProxy(t, doc, func(o *awssm.Options) { o.Now = clock.Now })
	t.Cleanup(func() { e.front.setDown(false) })
	path := cs.patientPath("down", src.sb)
	get := func(want int, wantCode unified.Code) {
		t.Helper()
		st, code, b := cs.get(t, "key-down", path)
		if st != want || code != wantCode {
			t.Fatalf("got %d %s, want %d %s: %s", st, code, want, wantCode, b)
		}
	}
	get(200, "")
	reads := e.front.readsOf(arn)

	e.front.setDown(true)
	// Into the last fifth of the TTL: one background read, which fails;
	// the cached value keeps serving, and the outage is not asked again
	// per request.
	clock.Advance(config.DefaultSecretsCacheTTL - config.DefaultSecretsCacheTTL/5 + time.Second)
	get(200, "")
	waitUntil(t, func() bool { return e.front.readsOf(arn) == reads+1 }, 10*time.Second)
	waitUntil(t, func() bool { return strings.Contains(cs.logs.String(), "secret fetch failed") }, 10*time.Second)
	for range 30 {
		get(200, "")
	}
	if n := e.front.readsOf(arn) - reads; n != 1 {
		t.Fatalf("%d reads while down inside the TTL, want the one background read", n)
	}

	// Past the TTL: no valid value remains.
	clock.Advance(config.DefaultSecretsCacheTTL / 5)
	for range 3 {
		get(503, unified.CodeCredentialsUnavailable)
		clock.Advance(awssm.DefaultErrorBackoff)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(cs.audit.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line: %v", err)
		}
		events = append(events, ev)
	}
	last := events[len(events)-1]
	if last["error_code"] != "credentials_unavailable" || last["status"] != float64(503) || last["tenant"] != "tenant-a" ||
		last["connection"] != "down" || last["actor"] != "app" {
		t.Fatalf("audit event of the refused request: %v", last)
	}
	if !strings.Contains(cs.logs.String(), "source credential unavailable") {
		t.Fatal("the credential failure was not logged")
	}

	// Back up: the next request after the backoff reads again and serves.
	e.front.setDown(false)
	clock.Advance(awssm.DefaultErrorBackoff)
	get(200, "")
	for range 10 {
		get(200, "")
	}
	cs.noCanary(t)
}

func waitUntil(t *testing.T, cond func() bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// smartEndpoint is a SMART Backend Services token endpoint that verifies
// each client assertion as an EHR does, with go-jose and the public keys
// the tenant registered: signature, iss = sub = client id, aud = its own
// URL, exp in the future and at most 5 minutes ahead, jti never reused.
// The tokens it issues become valid at the source.
type smartEndpoint struct {
	URL      string
	clientID string
	scope    string
	keys     map[string]crypto.PublicKey // by kid
	src      *guardedSource

	mu       sync.Mutex
	jtis     map[string]bool
	accepted []string // assertions
	refused  []string // why
	issued   int
}

func newSMARTEndpoint(t *testing.T, clientID, scope string, keys map[string]crypto.PublicKey, src *guardedSource) *smartEndpoint {
	s := &smartEndpoint{clientID: clientID, scope: scope, keys: keys, src: src, jtis: map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/oauth2/token"
	return s
}

func (s *smartEndpoint) refuse(w http.ResponseWriter, why string) {
	s.mu.Lock()
	s.refused = append(s.refused, why)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": why})
}

func (s *smartEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		s.refuse(w, "not a form POST")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" || f.Get("client_assertion_type") != outauth.ClientAssertionType || f.Get("scope") != s.scope {
		s.refuse(w, "form")
		return
	}
	raw := f.Get("client_assertion")
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES384, jose.RS384})
	if err != nil || len(tok.Headers) != 1 {
		s.refuse(w, "not a JWS")
		return
	}
	pub, ok := s.keys[tok.Headers[0].KeyID]
	if !ok {
		s.refuse(w, "unknown kid")
		return
	}
	var c jwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		s.refuse(w, "signature")
		return
	}
	now := time.Now()
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.clientID, Subject: s.clientID, AnyAudience: jwt.Audience{s.URL}, Time: now}, 0); err != nil {
		s.refuse(w, "claims: "+err.Error())
		return
	}
	if c.Expiry == nil || c.Expiry.Time().After(now.Add(5*time.Minute)) {
		s.refuse(w, "exp more than 5 minutes ahead")
		return
	}
	s.mu.Lock()
	reused := c.ID == "" || s.jtis[c.ID]
	s.jtis[c.ID] = true
	s.mu.Unlock()
	if reused {
		s.refuse(w, "jti reused")
		return
	}
	s.mu.Lock()
	s.issued++
	token := fmt.Sprintf("at-%d-%s", s.issued, credCanary)
	s.accepted = append(s.accepted, raw)
	s.mu.Unlock()
	s.src.add("Bearer " + token)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "bearer", "expires_in": 300, "scope": s.scope})
}

func (s *smartEndpoint) counts() (issued int, refused []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued, append([]string(nil), s.refused...)
}

func pkcs8PEM(t *testing.T, key any) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// testSMART: SMART Backend Services with the private key in the tenant's
// Secrets Manager, ES384 (kid from the secret) and RS384 (kid from the
// config), against token endpoints that verify every assertion; the source
// takes only issued tokens. A revoked token is replaced after the source's
// 401; a token endpoint on a private address is refused by the egress
// policy like a source would be.
func (e *credEnv) testSMART(t *testing.T) {
	adm := e.admin(credRoleA, credExtA)
	aud := createSecret(t, adm, "ferry/smart-audit", "audit-key-smart-0123456789abcdef-"+credCanary, credAcctA)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecARN := createSecret(t, adm, "ferry/smart-es", mustJSON(map[string]string{"private_key": pkcs8PEM(t, ecKey), "kid": "es-2026"}), credAcctA)
	rsARN := createSecret(t, adm, "ferry/smart-rs", mustJSON(map[string]string{"private_key": pkcs8PEM(t, rsaKey)}), credAcctA)

	const scope = "system/Patient.rs system/Observation.rs"
	srcES, srcRS, srcPriv := newGuardedSource(t, "Authorization"), newGuardedSource(t, "Authorization"), newGuardedSource(t, "Authorization")
	tokES := newSMARTEndpoint(t, "ferry-es", scope, map[string]crypto.PublicKey{"es-2026": &ecKey.PublicKey}, srcES)
	tokRS := newSMARTEndpoint(t, "ferry-rs", scope, map[string]crypto.PublicKey{"rs-cfg": &rsaKey.PublicKey}, srcRS)
	tokPriv := newSMARTEndpoint(t, "ferry-es", scope, map[string]crypto.PublicKey{"es-2026": &ecKey.PublicKey}, srcPriv)
	smart := func(tokenURL, clientID, ref string, extra map[string]any) map[string]any {
		a := map[string]any{"kind": "smart_backend_services", "secret_ref": ref, "token_url": tokenURL, "client_id": clientID,
			"scopes": strings.Fields(scope)}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	doc := credConfig(e.front.URL, []credTenant{{"tenant-a", credRoleA, credExtA, aud}},
		[]credConn{
			{id: "smart-es", tenant: "tenant-a", baseURL: srcES.URL, auth: smart(tokES.URL, "ferry-es", ecARN, map[string]any{"algorithm": "ES384"})},
			{id: "smart-rs", tenant: "tenant-a", baseURL: srcRS.URL, auth: smart(tokRS.URL, "ferry-rs", rsARN, map[string]any{"algorithm": "RS384", "key_id": "rs-cfg"})},
			{id: "smart-priv", tenant: "tenant-a", baseURL: srcPriv.URL, auth: smart(tokPriv.URL, "ferry-es", ecARN, nil), noPrivate: true},
		},
		[]credClient{{"app", "tenant-a", "key-smart", []string{"smart-es", "smart-rs", "smart-priv"}}})
	cs := e.startProxy(t, doc, nil)

	first := time.Now()
	for _, c := range []struct {
		conn string
		src  *guardedSource
		tok  *smartEndpoint
	}{{"smart-es", srcES, tokES}, {"smart-rs", srcRS, tokRS}} {
		for range 10 {
			if st, code, b := cs.get(t, "key-smart", cs.patientPath(c.conn, c.src.sb)); st != 200 {
				_, refused := c.tok.counts()
				t.Fatalf("%s: %d %s %s (token endpoint refused: %v)", c.conn, st, code, b, refused)
			}
		}
		// One token serves them all.
		if issued, refused := c.tok.counts(); issued != 1 || len(refused) > 0 {
			t.Fatalf("%s: %d tokens issued, refused %v", c.conn, issued, refused)
		}
	}

	// The endpoint refuses a replayed assertion (jti reuse): a captured
	// assertion is worth nothing, and Ferry never sent one twice.
	tokES.mu.Lock()
	replay := tokES.accepted[0]
	tokES.mu.Unlock()
	resp, err := http.PostForm(tokES.URL, url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {outauth.ClientAssertionType}, "client_assertion": {replay}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, refused := tokES.counts(); resp.StatusCode != 400 || len(refused) != 1 || refused[0] != "jti reused" {
		t.Fatalf("replayed assertion: %d, refusals %v", resp.StatusCode, refused)
	}

	// The EHR revokes the token. Once it is older than the authenticator's
	// minimum refresh interval, the source's 401 drops it, a new assertion
	// gets a new token and the request is resent: it succeeds.
	if wait := outauth.DefaultMinRefreshInterval - time.Since(first) + 100*time.Millisecond; wait > 0 {
		time.Sleep(wait)
	}
	srcES.set()
	if st, code, b := cs.get(t, "key-smart", cs.patientPath("smart-es", srcES.sb)); st != 200 {
		t.Fatalf("after revocation: %d %s %s", st, code, b)
	}
	if issued, _ := tokES.counts(); issued != 2 {
		t.Fatalf("%d tokens issued, want a second one after the revocation", issued)
	}
	if refused, worst := srcES.refusals(); refused != 1 || worst != 1 {
		t.Fatalf("source refusals after revocation: %d (max %d per request)", refused, worst)
	}

	// A token endpoint on a private address, on a connection without
	// allow_private_network: refused when the socket connects.
	if st, code, _ := cs.get(t, "key-smart", cs.patientPath("smart-priv", srcPriv.sb)); st != 503 || code != unified.CodeCredentialsUnavailable {
		t.Fatalf("token endpoint on loopback without allow_private_network: %d %s", st, code)
	}
	if issued, refused := tokPriv.counts(); issued != 0 || len(refused) != 0 {
		t.Fatalf("the private token endpoint was reached: %d %v", issued, refused)
	}
	cs.noCanary(t)
}

// testClientCredentials: OAuth2 client_credentials with {client_id,
// client_secret} in the tenant's secret, sent client_secret_post; the
// token is cached, and a rotated client secret is picked up when the token
// endpoint refuses the old one.
func (e *credEnv) testClientCredentials(t *testing.T) {
	adm := e.admin(credRoleA, credExtA)
	aud := createSecret(t, adm, "ferry/cc-audit", "audit-key-cc-0123456789abcdef-"+credCanary, credAcctA)
	arn := createSecret(t, adm, "ferry/cc", mustJSON(map[string]string{"client_id": "ferry-cc", "client_secret": "s1-" + credCanary}), credAcctA)
	src := newGuardedSource(t, "Authorization")
	var mu sync.Mutex
	secret, issued := "s1-"+credCanary, 0
	tokSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != "ferry-cc" ||
			r.PostForm.Get("client_secret") != secret || r.PostForm.Get("scope") != "system/*.read" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		issued++
		tok := fmt.Sprintf("cc-%d-%s", issued, credCanary)
		src.add("Bearer " + tok)
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(tokSrv.Close)
	doc := credConfig(e.front.URL, []credTenant{{"tenant-a", credRoleA, credExtA, aud}},
		[]credConn{{id: "cc", tenant: "tenant-a", baseURL: src.URL, auth: map[string]any{"kind": "oauth2_client_credentials",
			"secret_ref": arn, "token_url": tokSrv.URL + "/token", "scopes": []string{"system/*.read"}, "client_auth": "client_secret_post"}}},
		[]credClient{{"app", "tenant-a", "key-cc", []string{"cc"}}})
	cs := e.startProxy(t, doc, nil)
	path := cs.patientPath("cc", src.sb)
	for range 10 {
		if st, code, b := cs.get(t, "key-cc", path); st != 200 {
			t.Fatalf("%d %s %s", st, code, b)
		}
	}
	// The tenant rotates the client secret at the authorization server and
	// in Secrets Manager; the source revokes the old token.
	if _, err := adm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn),
		SecretString: aws.String(mustJSON(map[string]string{"client_id": "ferry-cc", "client_secret": "s2-" + credCanary}))}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = "s2-" + credCanary
	mu.Unlock()
	time.Sleep(outauth.DefaultMinRefreshInterval) // the token must be old enough to drop
	src.set()
	if st, code, b := cs.get(t, "key-cc", path); st != 200 {
		t.Fatalf("after rotating the client secret: %d %s %s", st, code, b)
	}
	mu.Lock()
	defer mu.Unlock()
	if issued != 2 {
		t.Fatalf("%d tokens issued, want 2", issued)
	}
	cs.noCanary(t)
}

func basicB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
