package awssm

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// canary is a distinctive secret value; no error string and no log line may
// ever contain it.
const canary = "CANARY-s3cr3t-9f2d7e41"

const (
	testRegion = "eu-west-1"
	accountA   = "222222222222"
	accountB   = "333333333333"
	roleA      = "arn:aws:iam::" + accountA + ":role/ferry-reader"
	roleB      = "arn:aws:iam::" + accountB + ":role/ferry-reader"
	extA       = "ext-id-tenant-a"
	extB       = "ext-id-tenant-b"
)

// nodeCreds is the node's own identity in tests (moto's default account).
var nodeCreds = credentials.NewStaticCredentialsProvider("AKIAFERRYNODE000000", "node-secret-key", "")

// clock is the injected cache clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// front is a reverse proxy in front of moto, on 127.0.0.1, that counts the
// AWS operations it relays and can be switched to failing.
type front struct {
	URL string
	rp  *httputil.ReverseProxy

	mu     sync.Mutex
	counts map[string]int // "GetSecretValue", "AssumeRole", ...
	mode   string         // "", "down", "throttle", "deny", "500", "sts-deny"
	gate   chan struct{}  // when set, GetSecretValue waits for it to close
}

func newFront(t *testing.T, target string) *front {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{rp: httputil.NewSingleHostReverseProxy(u), counts: map[string]int{}}
	f.rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(f) // binds 127.0.0.1
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := ""
	if tgt := r.Header.Get("X-Amz-Target"); tgt != "" {
		_, op, _ = strings.Cut(tgt, ".")
	} else {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if q, err := url.ParseQuery(string(body)); err == nil {
			op = q.Get("Action")
		}
	}
	f.mu.Lock()
	f.counts[op]++
	mode, gate := f.mode, f.gate
	f.mu.Unlock()
	if op == "GetSecretValue" && gate != nil {
		<-gate
	}
	sm := r.Header.Get("X-Amz-Target") != ""
	switch {
	case mode == "down" && sm:
		// Close the connection without an answer, as a dead endpoint would.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	case mode == "throttle" && sm:
		awsJSONError(w, 400, "ThrottlingException", "Rate exceeded "+canary)
		return
	case mode == "deny" && sm:
		awsJSONError(w, 400, "AccessDeniedException", "not authorized "+canary)
		return
	case mode == "500" && sm:
		awsJSONError(w, 500, "InternalServiceError", "boom "+canary)
		return
	case mode == "sts-deny" && op == "AssumeRole":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(403)
		io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed `+canary+`</Message></Error><RequestId>x</RequestId></ErrorResponse>`)
		return
	}
	f.rp.ServeHTTP(w, r)
}

func awsJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	io.WriteString(w, `{"__type":"`+code+`","message":"`+msg+`"}`)
}

func (f *front) setMode(m string) {
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
}

func (f *front) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

// hold makes GetSecretValue calls wait until the returned func is called.
func (f *front) hold() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.gate = ch
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.gate = nil
			f.mu.Unlock()
			close(ch)
		})
	}
}

// env is one moto, a front, a clock and a log buffer shared by a test's
// providers.
type env struct {
	moto  *testpeer.Moto
	front *front
	clock *clock
	logs  *syncBuffer
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

func newEnv(t *testing.T) *env {
	m := testpeer.StartMoto(t)
	e := &env{moto: m, front: newFront(t, m.Endpoint), clock: newClock(), logs: &syncBuffer{}}
	t.Cleanup(func() {
		if strings.Contains(e.logs.String(), canary) {
			t.Errorf("the canary secret reached the provider's log:\n%s", e.logs.String())
		}
	})
	return e
}

// provider builds a tenant's provider that talks to moto through the front.
func (e *env) provider(t *testing.T, tenant, role, ext string, mod ...func(*Options)) *Provider {
	o := Options{
		Tenant: tenant, Region: testRegion, RoleARN: role, ExternalID: ext,
		Endpoint: e.front.URL, Credentials: nodeCreds, Now: e.clock.Now,
		MaxAttempts: 1, FetchTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range mod {
		f(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// admin is the tenant's own Secrets Manager client (the tenant's side of
// the test, talking straight to moto), inside the tenant's account.
func (e *env) admin(t *testing.T, role, ext string) *secretsmanager.Client {
	cfg := aws.Config{Region: testRegion, Credentials: nodeCreds}
	stsc := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(e.moto.Endpoint) })
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, role, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(ext)
		o.RoleSessionName = "tenant-admin"
	}))
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(e.moto.Endpoint) })
}

// create makes a secret and returns its ARN, checking moto put it in the
// expected account.
func create(t *testing.T, sm *secretsmanager.Client, name, value, account string) string {
	t.Helper()
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	arn := aws.ToString(out.ARN)
	want := "arn:aws:secretsmanager:" + testRegion + ":" + account + ":secret:" + name + "-"
	if !strings.HasPrefix(arn, want) {
		t.Fatalf("moto created %s, want an ARN starting %s", arn, want)
	}
	return arn
}

// noCanary fails if err's text carries the canary.
func noCanary(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Fatalf("error leaks the secret: %v", err)
	}
}
