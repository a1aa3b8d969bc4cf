//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// TestDrainUnderLoad: the real ferry and FHIR plugin against Medplum, with
// node.drain.delay 1s, under a load of reads and searches. At SIGTERM,
// /readyz answers 503 at once while requests are still served; when the
// delay is over the listener closes; ferry exits 0. No request ferry
// accepted failed (a request counts as accepted once it was written on a
// connection ferry had accepted: a refused dial is the load balancer's to
// route elsewhere), every answered request has its audit event, and the
// whole trail verifies with `ferry audit verify` and ends with a signed
// checkpoint.
//
// Alone: make build test-deps && FERRY_BIN=$PWD/bin go test -run TestDrainUnderLoad ./cmd/ferry/
func TestDrainUnderLoad(t *testing.T) {
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	listen, admin := freePort(t), freePort(t)
	path := writeConfig(t, peer.BaseURL, listen, admin)
	var cfg map[string]any
	if err := json.Unmarshal(mustRead(t, path), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["node"].(map[string]any)["drain"] = map[string]any{"delay": "1s", "grace": "10s"}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFerry(t, "serve", "--config", path)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)

	base := "http://" + listen + "/v1/" + demoConn + "/"
	urls := []string{base + "patients/" + peer.PatientIDs[0], base + "patients?limit=2", base + "observations?patient_id=" + peer.PatientIDs[0] + "&limit=5"}
	var answered, refused, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 20 * time.Second}
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var wrote atomic.Bool
				trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
				req, _ := http.NewRequest("GET", urls[(w+i)%len(urls)], nil)
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
				req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
				resp, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				var op *net.OpError
				switch {
				case err == nil && resp.StatusCode == 200:
					answered.Add(1)
				case err != nil && !wrote.Load() && errors.As(err, &op) && op.Op == "dial":
					// Not accepted: the listener is closed.
					refused.Add(1)
					time.Sleep(20 * time.Millisecond)
				default:
					failed.Add(1)
					what := "status"
					if err != nil {
						what = err.Error()
					} else {
						what = resp.Status
					}
					firstFailure.CompareAndSwap(nil, what)
				}
			}
		})
	}
	waitFor(t, func() bool { return answered.Load() >= 30 || failed.Load() > 0 }, 60*time.Second)
	if answered.Load() < 30 {
		t.Fatalf("before SIGTERM: %d answered, %d failed (first: %v)", answered.Load(), failed.Load(), firstFailure.Load())
	}

	before := answered.Load()
	signalled := time.Now()
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// /readyz says 503 at once, while the API still serves.
	waitHTTP(t, "http://"+admin+"/readyz", 503, 500*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	if answered.Load() <= before {
		t.Fatalf("no request was served during the drain delay")
	}
	exited := make(chan error, 1)
	go func() { exited <- f.cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("ferry did not exit within 20s of SIGTERM")
	}
	took := time.Since(signalled)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("ferry exited with %v, want 0:\n%s", err, f.stderr.String())
	}
	if took < time.Second {
		t.Fatalf("ferry exited %v after SIGTERM, before its drain delay (1s)", took)
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d accepted requests failed during the drain; first: %v", n, firstFailure.Load())
	}
	t.Logf("drain: %d answered (%d after SIGTERM), %d refused at dial after the listener closed, exit after %v",
		answered.Load(), answered.Load()-before, refused.Load(), took.Round(time.Millisecond))

	stdout := f.stdout.String()
	events := auditEvents(t, stdout)
	if int64(events) < answered.Load() {
		t.Fatalf("%d audit events for %d answered requests", events, answered.Load())
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	var last struct {
		Action string `json:"action"`
	}
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if last.Action != "checkpoint" {
		t.Fatalf("the trail does not end with a checkpoint: %.200s", lines[len(lines)-1])
	}
	verifyAudit(t, stdout, 0)
}
