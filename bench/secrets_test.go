//go:build unix

package bench

// Secrets Manager calls per request at steady state: the proxy in-process
// with the FHIR connector, a sandbox FHIR source on 127.0.0.1 that demands
// a bearer token, and the token in a tenant's Secrets Manager (moto,
// started on 127.0.0.1, reached by AssumeRole into the tenant's account)
// behind a reverse proxy that counts GetSecretValue calls.
//
// Alone: go test -run TestSecretsManagerCallsPerRequest -v ./bench/
//        go test -run '^$' -bench SecretsSteadyState ./bench/

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
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

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/proxy"
	"github.com/ferryhealth/ferry/proxy/config"
)

const (
	benchRegion = "eu-west-1"
	benchRole   = "arn:aws:iam::222222222222:role/ferry-reader"
	benchExt    = "ext-bench-5e1a"
	benchKey    = "key-bench-app"
	benchToken  = "bench-token-CANARY-7d02c9"
	// maxCallsPerRequest is issue 4's bar for steady state.
	maxCallsPerRequest = 0.001
)

// smCounter relays to moto and counts GetSecretValue calls.
type smCounter struct {
	rp    *httputil.ReverseProxy
	reads atomic.Int64
}

func (c *smCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".GetSecretValue") {
		c.reads.Add(1)
	}
	c.rp.ServeHTTP(w, r)
}

// secretsBench is a running proxy whose one connection's token lives in
// Secrets Manager.
type secretsBench struct {
	url     string // a patient read through the proxy
	counter *smCounter
	client  *http.Client
}

func startSecretsBench(tb testing.TB) *secretsBench {
	tb.Helper()
	m := testpeer.StartMoto(tb)
	u, _ := url.Parse(m.Endpoint)
	counter := &smCounter{rp: httputil.NewSingleHostReverseProxy(u)}
	counter.rp.ErrorLog = log.New(io.Discard, "", 0)
	front := httptest.NewServer(counter)
	tb.Cleanup(front.Close)

	// The tenant's side: a token and an audit key in their account.
	node := credentials.NewStaticCredentialsProvider("AKIAFERRYNODE000000", "node-secret-key", "")
	cfg := aws.Config{Region: benchRegion, Credentials: node}
	stsc := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(m.Endpoint) })
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, benchRole, func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String(benchExt) }))
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(m.Endpoint) })
	create := func(name, value string) string {
		out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			tb.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	tokenARN := create("ferry/bench", `{"token":"`+benchToken+`"}`)
	auditARN := create("ferry/bench-audit", "audit-key-bench-0123456789abcdef0123456789")

	sb := sandbox.New(sandbox.Options{RequireBearer: benchToken})
	src := httptest.NewServer(sb.Handler())
	tb.Cleanup(src.Close)

	sum := func(s string) string { d := sha256.Sum256([]byte(s)); return hex.EncodeToString(d[:]) }
	doc, _ := json.Marshal(map[string]any{
		"dev_mode": true,
		"node":     map[string]any{"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:1"},
		"plugins":  []any{map[string]any{"kind": "fhir", "path": "/nonexistent", "sha256": sum("x")}},
		"tenants": []any{map[string]any{"id": "acme",
			"secrets": map[string]any{"provider": "aws", "region": benchRegion, "role_arn": benchRole, "external_id": benchExt, "endpoint": front.URL},
			"audit":   map[string]any{"key_ref": auditARN}}},
		"clients": []any{map[string]any{"id": "app", "tenant": "acme", "api_key_sha256": sum(benchKey), "connections": []string{"epic"}}},
		"connections": []any{map[string]any{"id": "epic", "tenant": "acme", "connector": "fhir", "base_url": src.URL + sandbox.Prefix,
			"auth":                map[string]any{"kind": "bearer", "secret_ref": tokenARN + "#token"},
			"allow_insecure_http": true, "allow_private_network": true}},
	})
	c, probs := config.Parse(doc, "")
	if len(probs) > 0 {
		tb.Fatal(probs)
	}
	ctx := context.Background()
	providers, err := proxy.NewTenantSecrets(c, proxy.SecretsOptions{AWSCredentials: node})
	if err != nil {
		tb.Fatal(err)
	}
	conns, err := proxy.NewInProcess(ctx, c, map[string]connectors.Connector{"fhir": fhir.New()})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := proxy.New(ctx, proxy.Options{Config: c, Connectors: conns, TenantSecrets: providers,
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
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &secretsBench{
		url:     "http://" + ln.Addr().String() + "/v1/epic/patients/" + sb.PatientIDs()[0],
		counter: counter,
		client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second},
	}
}

func (s *secretsBench) get(tb testing.TB) bool {
	req, _ := http.NewRequest("GET", s.url, nil)
	req.Header.Set("Authorization", "Bearer "+benchKey)
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Error(err)
		return false
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(b, []byte(benchToken)) {
		tb.Errorf("status %d", resp.StatusCode)
		return false
	}
	return true
}

// run sends n requests from workers concurrent clients.
func (s *secretsBench) run(tb testing.TB, n, workers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if !s.get(tb) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestSecretsManagerCallsPerRequest sends 10,000 requests at steady state
// and prints Secrets Manager calls per request (issue 4: at most 0.001).
func TestSecretsManagerCallsPerRequest(t *testing.T) {
	s := startSecretsBench(t)
	boot := s.counter.reads.Load() // the audit key, read at start
	s.run(t, 100, 8)               // warm-up: the token's one read
	warm := s.counter.reads.Load()
	const n = 10000
	start := time.Now()
	s.run(t, n, 16)
	took := time.Since(start)
	steady := s.counter.reads.Load() - warm
	all := s.counter.reads.Load() - boot
	ratio := float64(steady) / n
	t.Logf("steady state: %d requests in %v (%.0f/s), %d Secrets Manager calls: %.5f calls/request",
		n, took.Round(time.Millisecond), n/took.Seconds(), steady, ratio)
	t.Logf("including warm-up: %d requests, %d calls: %.5f calls/request", n+100, all, float64(all)/float64(n+100))
	if ratio > maxCallsPerRequest || float64(all)/float64(n+100) > maxCallsPerRequest {
		t.Fatalf("Secrets Manager calls per request above %v", maxCallsPerRequest)
	}
}

// BenchmarkSecretsSteadyState reports Secrets Manager calls per request
// (sm-calls/req) alongside the usual figures.
func BenchmarkSecretsSteadyState(b *testing.B) {
	s := startSecretsBench(b)
	s.run(b, 100, 8)
	warm := s.counter.reads.Load()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		s.get(b)
		n++
	}
	b.ReportMetric(float64(s.counter.reads.Load()-warm)/float64(n), "sm-calls/req")
}
