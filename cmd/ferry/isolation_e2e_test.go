//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// TestTenantIsolation: one ferry process, two tenants whose secrets live
// in their own AWS accounts (moto), the real FHIR plugin and Medplum.
// Tenant beta is broken three ways in turn while a load generator reads
// acme's data throughout:
//
//  1. beta's role cannot be assumed at boot (a front in front of moto
//     answers AssumeRole with AccessDenied: moto assumes any role, so this
//     fault is the one a real peer cannot produce): ferry starts, /readyz
//     is 200, beta gets 503 credentials_unavailable, ferry_tenant_ready
//     says 0 for beta and 1 for acme; once the role works again beta
//     serves within one tenant_retry period.
//  2. beta's connection secret is deleted (moto DeleteSecret with a
//     recovery window): beta gets 503 credentials_unavailable; restored,
//     it serves again.
//  3. beta's audit sink refuses (its CloudWatch log group deleted in moto):
//     once its queue (100 events) is full beta gets 503 audit_unavailable; the group
//     recreated, beta serves again.
//
// acme never sees a failed request.
//
// Alone: make build test-deps && FERRY_BIN=$PWD/bin go test -run TestTenantIsolation ./cmd/ferry/
func TestTenantIsolation(t *testing.T) {
	const (
		region = "eu-west-1"
		roleA  = "arn:aws:iam::111111111111:role/ferry-reader"
		roleB  = "arn:aws:iam::222222222222:role/ferry-reader"
		extID  = "ext-isolation-7c"
		keyA   = "isolation-acme-client-key"
		keyB   = "isolation-beta-client-key"
	)
	moto := testpeer.StartMoto(t)
	token := "medplum-isolation-token"
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{RequireAuth: "Bearer " + token})
	front := newSTSFront(t, moto.Endpoint)
	front.deny.Store(true) // beta's role cannot be assumed at boot

	nodeCreds := credentials.NewStaticCredentialsProvider("AKIAFERRYISOLATION00", "isolation-node-secret", "")
	admin := func(role string) *secretsmanager.Client {
		acfg := aws.Config{Region: region, Credentials: nodeCreds}
		stsc := sts.NewFromConfig(acfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
		acfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, role, func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String(extID) }))
		return secretsmanager.NewFromConfig(acfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	}
	create := func(sm *secretsmanager.Client, name, value string) string {
		out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	smA, smB := admin(roleA), admin(roleB)
	value := `{"token":"` + token + `","audit":"audit-key-isolation-0123456789abcdef"}`
	arnA := create(smA, "ferry/acme", value)
	arnB := create(smB, "ferry/beta", value)
	logs := cloudwatchlogs.NewFromConfig(aws.Config{Region: region, Credentials: nodeCreds}, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	group := &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("ferry-beta")}
	if _, err := logs.CreateLogGroup(t.Context(), group); err != nil {
		t.Fatal(err)
	}

	nodeEnv(t, "AKIAFERRYISOLATION00", "isolation-node-secret")

	plugin := filepath.Join(binaries(t), "ferry-connector-fhir")
	sum, err := fileSHA256(plugin)
	if err != nil {
		t.Fatal(err)
	}
	listen, adminAddr := freePort(t), freePort(t)
	// beta's audit queue is small so that its dead sink refuses its
	// requests quickly; acme's is roomy, so that its own stdout sink,
	// which the test's pipe drains slowly under -race, never refuses acme:
	// what this test measures is beta's faults, not acme's pipe.
	tenant := func(id, role, endpoint, arn string, sinks []any, queue int) map[string]any {
		return map[string]any{"id": id, "home_region": "eu",
			"secrets": map[string]any{"provider": "aws", "region": region, "role_arn": role, "external_id": extID,
				"endpoint": endpoint, "cache_ttl": "1s"},
			"audit": map[string]any{"key_ref": arn + "#audit", "sinks": sinks, "queue_size": queue}}
	}
	client := func(id, tenant, key, conn string) map[string]any {
		d := sha256.Sum256([]byte(key))
		return map[string]any{"id": id, "tenant": tenant, "api_key_sha256": hex.EncodeToString(d[:]), "connections": []string{conn}}
	}
	conn := func(id, tenant, arn string) map[string]any {
		return map[string]any{"id": id, "tenant": tenant, "connector": "fhir", "base_url": peer.BaseURL,
			"auth": map[string]any{"kind": "bearer", "secret_ref": arn + "#token"}, "allow_insecure_http": true, "allow_private_network": true}
	}
	doc, _ := json.MarshalIndent(map[string]any{
		"node": map[string]any{"listen": listen, "admin_listen": adminAddr, "region": "eu",
			"tenant_retry": map[string]any{"min": "200ms", "max": "1s"}},
		"regions": []any{map[string]any{"name": "eu", "endpoint": "https://eu.ferry.example", "aws_regions": []string{region}}},
		"plugins": []any{map[string]any{"kind": "fhir", "path": plugin, "sha256": sum}},
		"cursor":  map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:FERRY_E2E_CURSOR_KEY"}}},
		"tenants": []any{
			tenant("acme", roleA, moto.Endpoint, arnA, []any{map[string]any{"kind": "stdout"}}, 20000),
			tenant("beta", roleB, front.URL, arnB, []any{map[string]any{"kind": "cloudwatch", "region": region,
				"endpoint": moto.Endpoint, "log_group": "ferry-beta", "flush_interval": "20ms", "timeout": "2s"}}, 100),
		},
		"clients":     []any{client("app-a", "acme", keyA, "a"), client("app-b", "beta", keyB, "b")},
		"connections": []any{conn("a", "acme", arnA), conn("b", "beta", arnB)},
	}, "", "  ")
	cfgPath := filepath.Join(t.TempDir(), "ferry.json")
	if err := os.WriteFile(cfgPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}

	f := startFerry(t, "serve", "--config", cfgPath)
	waitHTTP(t, "http://"+adminAddr+"/readyz", 200, 30*time.Second)
	base := "http://" + listen + "/v1/"
	readA := base + "a/patients/" + peer.PatientIDs[0]
	readB := base + "b/patients/" + peer.PatientIDs[0]

	// acme's load, all along: every request must succeed.
	load := startLoad(t, readA, keyA, 4)
	expect := func(what string, want int, code unified.Code) {
		t.Helper()
		status, body := get(t, readB, keyB)
		var p unified.Problem
		if status != want || (code != "" && (json.Unmarshal(body, &p) != nil || p.Code != code)) {
			t.Fatalf("%s: beta answered %d %s, want %d %s", what, status, body, want, code)
		}
	}
	recovers := func(what string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < within {
			if status, _ := get(t, readB, keyB); status == 200 {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: beta did not recover within %v", what, within)
		return 0
	}

	// 1. The role cannot be assumed.
	expect("role denied at boot", 503, unified.CodeCredentialsUnavailable)
	metrics := scrape(t, adminAddr)
	for _, want := range []string{`ferry_tenant_ready{tenant="acme"} 1`, `ferry_tenant_ready{tenant="beta"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %s:\n%s", want, grepLines(metrics, "ferry_tenant"))
		}
	}
	if !regexp.MustCompile(`ferry_tenant_credential_refreshes_total\{outcome="failure",tenant="beta"\} [1-9]`).MatchString(metrics) {
		t.Fatalf("beta's failed refreshes are not counted:\n%s", grepLines(metrics, "ferry_tenant"))
	}
	front.deny.Store(false)
	// Within tenant_retry.max (1s) plus the provider's error backoff (2s),
	// during which the failed read is answered from its cache.
	took := recovers("role allowed again", 6*time.Second)
	t.Logf("beta recovered from its role %v after it was fixed", took.Round(time.Millisecond))
	if m := scrape(t, adminAddr); !strings.Contains(m, `ferry_tenant_ready{tenant="beta"} 1`) {
		t.Fatalf("beta recovered but is not ready:\n%s", grepLines(m, "ferry_tenant"))
	}

	// 2. Its connection secret is deleted (and restored).
	if _, err := smB.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(arnB), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		status, _ := get(t, readB, keyB)
		return status == 503
	}, 10*time.Second) // the cached value expires after cache_ttl (1s)
	expect("secret deleted", 503, unified.CodeCredentialsUnavailable)
	if _, err := smB.RestoreSecret(t.Context(), &secretsmanager.RestoreSecretInput{SecretId: aws.String(arnB)}); err != nil {
		t.Fatal(err)
	}
	took = recovers("secret restored", 10*time.Second) // the provider's error backoff (2s)
	t.Logf("beta recovered from its deleted secret %v after it was restored", took.Round(time.Millisecond))

	// 3. Its audit sink refuses: the log group is gone.
	if _, err := logs.DeleteLogGroup(t.Context(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String("ferry-beta")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		status, _ := get(t, readB, keyB)
		return status == 503
	}, 30*time.Second) // a queue of 100 to fill
	expect("audit sink refusing", 503, unified.CodeAuditUnavailable)
	if _, err := logs.CreateLogGroup(t.Context(), group); err != nil {
		t.Fatal(err)
	}
	took = recovers("log group recreated", 40*time.Second) // the sink's retry backoff
	t.Logf("beta recovered from its audit sink %v after it was fixed", took.Round(time.Millisecond))

	ok, failed := load.stop()
	if failed > 0 || ok == 0 {
		t.Fatalf("acme's load: %d ok, %d failed (first failure: %s)", ok, failed, load.firstFailure())
	}
	t.Logf("acme's load: %d requests, none failed", ok)
	if !strings.Contains(f.stderr.String(), "tenant degraded") || !strings.Contains(f.stderr.String(), "tenant recovered") {
		t.Fatalf("the degradation and recovery were not logged:\n%s", f.stderr.String())
	}
	// The degradations logged and counted no secret.
	for name, out := range map[string]string{"stdout": f.stdout.String(), "stderr": f.stderr.String(), "metrics": scrape(t, adminAddr)} {
		for _, secret := range []string{token, "audit-key-isolation-0123456789abcdef"} {
			if strings.Contains(out, secret) {
				t.Errorf("a secret reached %s", name)
			}
		}
	}
}

// stsFront relays to moto and, while deny is set, answers AssumeRole with
// AccessDenied, as STS does for a role that is gone or whose trust policy
// no longer names the node.
type stsFront struct {
	URL  string
	deny atomic.Bool
}

func newSTSFront(t *testing.T, target string) *stsFront {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	f := &stsFront{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if q, _ := url.ParseQuery(string(body)); f.deny.Load() && q.Get("Action") == "AssumeRole" {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// load is a closed-loop load generator: workers GET one URL in a loop and
// count answers other than 200.
type load struct {
	done       chan struct{}
	wg         sync.WaitGroup
	ok, failed atomic.Int64
	mu         sync.Mutex
	first      string
}

func startLoad(t *testing.T, u, key string, workers int) *load {
	l := &load{done: make(chan struct{})}
	hc := &http.Client{Timeout: 15 * time.Second}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.done:
					return
				default:
				}
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := hc.Do(req)
				what := ""
				if err != nil {
					what = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						what = resp.Status + " " + string(b)
					}
				}
				if what == "" {
					l.ok.Add(1)
					continue
				}
				l.failed.Add(1)
				l.mu.Lock()
				if l.first == "" {
					l.first = what
				}
				l.mu.Unlock()
			}
		})
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) stop() (ok, failed int64) {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load()
}

func (l *load) firstFailure() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(text, sub string) string {
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
