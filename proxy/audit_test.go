package proxy

import (
	"bytes"
	"context"
	"crypto/ed25519"
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

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/unified"
)

// auditReceiver is a webhook audit sink that can be switched off: while
// down it answers 503 and keeps nothing.
type auditReceiver struct {
	down atomic.Bool
	mu   sync.Mutex
	body bytes.Buffer
}

func (a *auditReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if a.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	a.mu.Lock()
	a.body.Write(b)
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (a *auditReceiver) stream() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return bytes.Clone(a.body.Bytes())
}

// TestAuditBlockPolicy: with the tenant's only sink down, requests are
// served until its in-memory queue is full and then refused with 503
// audit_unavailable, never served unaudited; when the sink is back the
// backlog arrives, every 200 has its event, and the chain verifies.
func TestAuditBlockPolicy(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	up := httptest.NewServer(sb.Handler())
	defer up.Close()
	recv := &auditReceiver{}
	hook := httptest.NewServer(recv)
	defer hook.Close()

	cfg, probs := config.Parse(testConfig(up.URL+"/fhir/R4", nil), "")
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	ctx := context.Background()
	_, signing, _ := ed25519.GenerateKey(nil)
	webhook, err := auditlog.NewSink(ctx, auditlog.SinkConfig{Kind: "webhook", URL: hook.URL, HMACKey: []byte("webhook-key-0123456789abcdef0123"),
		BatchSize: 4, FlushInterval: 10 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const queue = 8
	em, err := auditlog.New(auditlog.Options{
		Region: "us", ConfigHash: "cfg-hash",
		Default: &auditlog.StreamOptions{Sinks: []auditlog.SinkOptions{{Name: "discard", Sink: discardSink{}}}},
		Tenants: map[string]auditlog.StreamOptions{"demo": {
			Sinks: []auditlog.SinkOptions{webhook}, OnSinkFailure: auditlog.PolicyBlock, QueueSize: queue,
			SigningKey: signing, CheckpointEvery: 5,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conns, err := NewInProcess(ctx, cfg, map[string]connectors.Connector{"fhir": fhir.New()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(ctx, Options{Config: cfg, ConfigHash: "cfg-hash", Connectors: conns, Audit: em})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.ServeAPI(ln, nil) }()
	defer srv.Shutdown(ctx)
	e := &env{base: "http://" + ln.Addr().String()}

	recv.down.Store(true)
	var served []string
	refused := 0
	for i := 0; i < 5*queue && refused < 3; i++ {
		r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil)
		switch r.status {
		case 200:
			served = append(served, r.header.Get("X-Request-Id"))
		case 503:
			if p := problemOf(t, r); p.Code != unified.CodeAuditUnavailable || !p.Retryable {
				t.Fatalf("503 with %+v", p)
			}
			refused++
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	if refused == 0 || len(served) == 0 || len(served) > 2*queue {
		t.Fatalf("sink down: %d served, %d refused (queue %d)", len(served), refused, queue)
	}

	recv.down.Store(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		stream := recv.stream()
		missing := 0
		for _, id := range served {
			if !bytes.Contains(stream, []byte(`"request_id":"`+id+`"`)) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d served requests have no audit event after the sink came back", missing, len(served))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Served again once the backlog drained.
	if r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil); r.status != 200 {
		t.Fatalf("after recovery: %d %s", r.status, r.body)
	}
	if err := em.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	stream := recv.stream()
	rep, err := auditlog.Verify(bytes.NewReader(stream), auditlog.VerifyOptions{
		Keys: map[string][]ed25519.PublicKey{"demo": {signing.Public().(ed25519.PublicKey)}},
	})
	if err != nil || !rep.OK() {
		t.Fatalf("delivered stream does not verify: %v %+v", err, rep)
	}
	var refusedEvents, checkpoints int
	for _, line := range strings.Split(strings.TrimSpace(string(stream)), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event: %v", err)
		}
		switch {
		case ev["action"] == auditlog.ActionCheckpoint:
			checkpoints++
		case ev["error_code"] == string(unified.CodeAuditUnavailable):
			refusedEvents++
		}
	}
	if checkpoints == 0 {
		t.Error("no signed checkpoint in the delivered stream")
	}
	t.Logf("sink down: %d served, %d refused; delivered %d lines (%d refusals recorded, %d checkpoints)",
		len(served), refused, strings.Count(string(stream), "\n"), refusedEvents, checkpoints)
}

// discardSink accepts every batch: the default stream of tenantless events
// is not under test here.
type discardSink struct{}

func (discardSink) WriteBatch(context.Context, *auditlog.Batch) error { return nil }
func (discardSink) Close() error                                      { return nil }
