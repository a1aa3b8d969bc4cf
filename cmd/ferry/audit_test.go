package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/internal/gateway"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/unified"
)

// Run alone with `go test ./cmd/ferry -run Audit` (TestAuditDemoEndToEnd
// builds or uses the binaries, see binaries()).

// demoCfg is the demo configuration as `ferry audit` reads it.
func demoCfg(t *testing.T) *config.Config {
	t.Helper()
	cfg, probs := config.Parse(demoConfig("127.0.0.1:1", "127.0.0.1:2", "/bin/true", strings.Repeat("a", 64), "http://127.0.0.1:3/fhir"), "")
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	return cfg
}

// emitDemo runs n events per stream (tenant "demo" and tenantless) through
// the Emitter newAuditEmitter builds for cfg, and returns what it wrote to
// stdout.
func emitDemo(t *testing.T, cfg *config.Config, n int) []byte {
	t.Helper()
	providers, err := gateway.NewTenantSecrets(t.Context(), cfg, newLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuf
	em, err := gateway.NewAuditEmitter(t.Context(), cfg, "cfghash", providers, &out, newLogger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := em.Admit(demoTenant); err != nil {
			t.Fatal(err)
		}
		em.Emit(t.Context(), &auditlog.Event{
			RequestID: fmt.Sprint(i), Tenant: demoTenant, Actor: demoClient, SourceIP: "127.0.0.1", Action: auditlog.ActionRead,
			ResourceType: "patients", Route: "/v1/{connection_id}/patients/{id}", Connection: demoConn, Connector: "fhir",
			Region: "local", Status: 200, RecordCount: 1, ConfigHash: "cfghash",
			PatientRef: auditlog.PatientRef([]byte(DemoAuditKey), demoTenant, demoConn, fmt.Sprint("patient-", i%4)),
		})
		em.Emit(t.Context(), &auditlog.Event{RequestID: fmt.Sprint("r", i), SourceIP: "127.0.0.1", Action: auditlog.ActionRefused, Status: 401, Region: "local"})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := em.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return []byte(out.String())
}

func runAudit(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var code int
	if len(args) == 0 {
		return run([]string{"audit"}, &out, &errb), out.String(), errb.String()
	}
	switch args[0] {
	case "verify":
		code = cmdAuditVerify(args[1:], bytes.NewReader(stdin), &out, &errb)
	case "hash":
		code = cmdAuditHash(args[1:], bytes.NewReader(stdin), &out, &errb)
	default:
		code = run(append([]string{"audit"}, args...), &out, &errb)
	}
	return code, out.String(), errb.String()
}

// TestAuditVerifyDemoConfig: what the gateway's Emitter writes with the
// demo configuration verifies without --config, signatures included, from
// stdin and from a file; a deleted line fails with its position.
func TestAuditVerifyDemoConfig(t *testing.T) {
	stream := emitDemo(t, demoCfg(t), 30)
	code, out, errs := runAudit(t, stream, "verify", "-")
	// 30 events per stream and, for demo, a checkpoint at Close.
	if code != 0 || !strings.Contains(out, "OK: 61 events in 2 chains, intact") || !strings.Contains(out, "tenant demo: 31 events, seq 1..31, 1/1 checkpoints verified; signed through the end") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	lines := bytes.SplitAfter(stream, []byte("\n"))
	if err := os.WriteFile(path, bytes.Join(append(lines[:5:5], lines[6:]...), nil), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runAudit(t, nil, "verify", path)
	if code != 1 || !strings.Contains(out, ": deleted: seq") || !strings.Contains(out, "FAIL: deleted 1") {
		t.Fatalf("deleted line: exit %d\n%s", code, out)
	}
	if code, _, _ := runAudit(t, nil, "verify", filepath.Join(t.TempDir(), "missing")); code != 3 {
		t.Errorf("missing file: exit %d", code)
	}
	if code, _, _ := runAudit(t, nil, "verify", "a", "b"); code != 2 {
		t.Errorf("two paths: exit %d", code)
	}
}

// TestAuditConfigKeys: with --config, the config's keys (resolved by the
// tenant's provider) are used, and the demo's are not; pubkey prints the
// key --key takes.
func TestAuditConfigKeys(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, 32)
	t.Setenv("FERRY_TEST_SIGNING_KEY", hex.EncodeToString(seed))
	var m map[string]any
	if err := json.Unmarshal(demoConfig("127.0.0.1:1", "127.0.0.1:2", "/bin/true", strings.Repeat("a", 64), "http://127.0.0.1:3/fhir"), &m); err != nil {
		t.Fatal(err)
	}
	m["tenants"].([]any)[0].(map[string]any)["audit"] = map[string]any{
		"key_ref": "literal:" + DemoAuditKey, "signing_key_ref": "env:FERRY_TEST_SIGNING_KEY", "checkpoint_every": 5,
	}
	doc, _ := json.Marshal(m)
	path := filepath.Join(t.TempDir(), "ferry.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, probs := config.Load(path)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	stream := emitDemo(t, cfg, 12)

	if code, out, _ := runAudit(t, stream, "verify", "--config", path, "-"); code != 0 || !strings.Contains(out, "3/3 checkpoints verified") {
		t.Fatalf("--config: exit %d\n%s", code, out)
	}
	// The demo's key did not sign this stream.
	if code, out, _ := runAudit(t, stream, "verify", "-"); code != 1 || !strings.Contains(out, "FAIL: unverified 3") {
		t.Fatalf("demo key: exit %d\n%s", code, out)
	}
	code, out, _ := runAudit(t, nil, "pubkey", "--config", path, "--tenant", "demo")
	want := "demo=" + auditlog.FormatPublicKey(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)) + "\n"
	if code != 0 || out != want {
		t.Fatalf("pubkey: exit %d %q, want %q", code, out, want)
	}
	// A verifier with only the public key.
	if code, out, _ := runAudit(t, stream, "verify", "--key", strings.TrimSpace(out), "-"); code != 0 {
		t.Fatalf("--key: exit %d\n%s", code, out)
	}
	if code, _, _ := runAudit(t, stream, "verify", "--key", "demo=rsa:x", "-"); code != 2 {
		t.Errorf("bad --key: exit %d", code)
	}
	if code, _, _ := runAudit(t, nil, "pubkey", "--config", path, "--tenant", "nobody"); code != 1 {
		t.Errorf("unknown tenant: exit %d", code)
	}
}

func TestAuditHash(t *testing.T) {
	want := auditlog.PatientRef([]byte(DemoAuditKey), demoTenant, demoConn, "MRN-0012345")
	code, out, errs := runAudit(t, nil, "hash", "--tenant", "demo", "--patient-id", "MRN-0012345")
	if code != 0 || out != want+"\tdemo\n" {
		t.Fatalf("exit %d %q %s, want %q", code, out, errs, want)
	}
	code, out, _ = runAudit(t, []byte("MRN-0012345\n"), "hash", "--tenant", "demo", "--connection", "demo", "--patient-id", "-")
	if code != 0 || out != want+"\n" {
		t.Fatalf("stdin: exit %d %q", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"hash", "--tenant", "nobody", "--patient-id", "x"}, 1},
		{[]string{"hash", "--tenant", "demo", "--connection", "other", "--patient-id", "x"}, 1},
		{[]string{"hash", "--tenant", "demo"}, 2},
		{[]string{"hash", "--patient-id", "x"}, 2},
		{[]string{"hash", "--config", "/nonexistent.json", "--tenant", "demo", "--patient-id", "x"}, 1},
		{[]string{"nope"}, 2},
		{[]string{}, 2},
	} {
		if code, _, errs := runAudit(t, nil, append([]string{}, c.args...)...); code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errs)
		}
	}
	// The patient id never reaches the output or an error.
	_, out, errs = runAudit(t, nil, "hash", "--tenant", "nobody", "--patient-id", "MRN-0012345")
	if strings.Contains(out+errs, "MRN-0012345") {
		t.Errorf("patient id echoed: %s %s", out, errs)
	}
}

// TestNewAuditEmitterSinks: a tenant's configured sinks are built with its
// secrets (here a webhook whose HMAC key is an env reference) and receive
// its stream; a reference that does not resolve fails the build.
func TestNewAuditEmitterSinks(t *testing.T) {
	hmacKey := "webhook-key-0123456789abcdef0123"
	t.Setenv("FERRY_TEST_WEBHOOK_KEY", hmacKey)
	var mu sync.Mutex
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if auditlog.VerifyWebhook([]byte(hmacKey), r.Header.Get(auditlog.HeaderWebhookTimestamp), r.Header.Get(auditlog.HeaderWebhookSignature), body, time.Now(), time.Minute) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, body...)
		mu.Unlock()
	}))
	defer srv.Close()

	cfg := demoCfg(t)
	cfg.Tenants[0].Audit.Sinks = []config.AuditSink{
		{Kind: "webhook", URL: srv.URL, HMACKeyRef: "env:FERRY_TEST_WEBHOOK_KEY", AllowInsecureHTTP: true, FlushInterval: config.Duration(time.Millisecond)},
		{Kind: "stdout"},
	}
	stdout := emitDemo(t, cfg, 5)
	mu.Lock()
	webhook := got
	mu.Unlock()
	// The webhook holds the demo tenant's chain; stdout holds it too, and
	// the tenantless chain.
	var rep *auditlog.Report
	for name, stream := range map[string][]byte{"webhook": webhook, "stdout": stdout} {
		r, err := auditlog.Verify(bytes.NewReader(stream), auditlog.VerifyOptions{Keys: map[string][]ed25519.PublicKey{
			demoTenant: {demoSigningPub(t)},
		}})
		if err != nil || !r.OK() {
			t.Fatalf("%s: %v %v", name, err, r.Findings)
		}
		if name == "webhook" {
			rep = r
		}
	}
	if len(rep.Chains) != 1 || rep.Events != 6 {
		t.Errorf("webhook received %+v", rep.Chains)
	}

	cfg.Tenants[0].Audit.Sinks[0].HMACKeyRef = "env:FERRY_TEST_UNSET_KEY"
	providers, _ := gateway.NewTenantSecrets(t.Context(), cfg, newLogger(io.Discard))
	if _, err := gateway.NewAuditEmitter(t.Context(), cfg, "h", providers, io.Discard, newLogger(io.Discard)); err == nil || !strings.Contains(err.Error(), "hmac_key_ref") {
		t.Errorf("unresolvable hmac key: %v", err)
	}
}

func demoSigningPub(t *testing.T) ed25519.PublicKey {
	k, err := auditlog.ParseSigningKey([]byte(DemoSigningKey))
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().(ed25519.PublicKey)
}

// TestAuditDemoEndToEnd: the stream `ferry demo` prints verifies as it is
// with `ferry audit verify`, and `ferry audit hash` finds the read of a
// patient in it, as docs/audit.md tells an investigator to do.
func TestAuditDemoEndToEnd(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	f := startFerry(t, "demo", "--listen", listen, "--admin-listen", admin)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	status, body := get(t, "http://"+listen+"/v1/demo/patients?limit=3", DemoAPIKey)
	var list unified.List[unified.Patient]
	if status != 200 || json.Unmarshal(body, &list) != nil || len(list.Data) != 3 {
		t.Fatalf("demo search: %d %s", status, body)
	}
	id := list.Data[1].ID
	if status, _ := get(t, "http://"+listen+"/v1/demo/patients/"+id, DemoAPIKey); status != 200 {
		t.Fatalf("read: %d", status)
	}
	if status, _ := get(t, "http://"+listen+"/v1/demo/patients", ""); status != 401 {
		t.Fatalf("unauthenticated: %d", status)
	}
	waitFor(t, func() bool { return strings.Count(f.stdout.String(), "\n") >= 3 }, 10*time.Second)
	stream := f.stdout.String()

	ferry := filepath.Join(binaries(t), "ferry")
	cmd := exec.Command(ferry, "audit", "verify", "-")
	cmd.Stdin = strings.NewReader(stream)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("OK: ")) {
		t.Fatalf("ferry audit verify on the demo's stdout: %v\n%s\n--- stream:\n%s", err, out, stream)
	}

	cmd = exec.Command(ferry, "audit", "hash", "--tenant", "demo", "--connection", "demo", "--patient-id", "-")
	cmd.Stdin = strings.NewReader(id + "\n")
	ref, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var hits []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stream), "\n") {
		if strings.Contains(line, strings.TrimSpace(string(ref))) {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			hits = append(hits, ev)
		}
	}
	if len(hits) != 1 || hits[0]["action"] != "read" || hits[0]["actor"] != demoClient {
		t.Fatalf("grep for %s found %v", ref, hits)
	}

	// Drop the first line: the verify must fail and say where.
	cmd = exec.Command(ferry, "audit", "verify", "-")
	cmd.Stdin = strings.NewReader(stream[strings.Index(stream, "\n")+1:])
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !bytes.Contains(out, []byte("deleted")) {
		t.Fatalf("tampered demo stream: %v\n%s", err, out)
	}
}
