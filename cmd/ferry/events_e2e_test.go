//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/proxy/mllp"
)

// End-to-end for inbound events: the real ferry binary and HL7 v2 plugin,
// python3-hl7's MLLP client as the sending interface engine (resending
// until AA, as engines do), and a Node receiver that verifies every
// delivery with npm standardwebhooks. Each fault ends with the receiver
// holding every message's events exactly once after deduplication by
// webhook-id, in the order sent.
//
// Run alone with:
//
//	make build test-deps && FERRY_BIN=$PWD/bin go test -run Events -v ./cmd/ferry/

// The signing secrets: two, as during a rotation; every delivery carries a
// signature under each, and the receiver checks both.
const (
	eventSecretOld = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	eventSecretNew = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// eventsConfig is the demo config with addEvents' connection and webhooks,
// written to a file.
func eventsConfig(t *testing.T, listen, admin, feedAddr, receiverURL string, budget time.Duration) string {
	t.Helper()
	bin := binaries(t)
	fhirSum, err := fileSHA256(filepath.Join(bin, "ferry-connector-fhir"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(demoConfig(listen, admin, filepath.Join(bin, "ferry-connector-fhir"), fhirSum, "http://127.0.0.1:1/fhir"), &cfg); err != nil {
		t.Fatal(err)
	}
	addEvents(t, feedAddr, receiverURL, budget)(cfg)
	path := filepath.Join(t.TempDir(), "ferry.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// addEvents adds to a demo config the HL7 v2 plugin, an hl7v2 connection
// "adt" whose feed listens at feedAddr, and two webhooks of the demo
// client: "a" (encounter and patient events, ids payload) and "b" (every
// event, full payload).
func addEvents(t *testing.T, feedAddr, receiverURL string, budget time.Duration) func(cfg map[string]any) {
	t.Helper()
	hl7Path := filepath.Join(binaries(t), "ferry-connector-hl7v2")
	hl7Sum, err := fileSHA256(hl7Path)
	if err != nil {
		t.Fatal(err)
	}
	return func(cfg map[string]any) {
		cfg["plugins"] = append(cfg["plugins"].([]any), map[string]any{"kind": "hl7v2", "path": hl7Path, "sha256": hl7Sum})
		cfg["connections"] = append(cfg["connections"].([]any), map[string]any{
			"id": "adt", "tenant": demoTenant, "connector": "hl7v2", "base_url": "mllp://127.0.0.1:1",
			"auth": map[string]any{"kind": "none"}, "allow_insecure_http": true, "allow_private_network": true,
			"settings": map[string]any{"id_authority": map[string]any{"namespace": "RIVERSIDE"}},
			"feed": map[string]any{"listen": feedAddr, "sending_application": "EPICADT", "sending_facility": "RIVERSIDE",
				"ack_budget": budget.String(), "frame_timeout": "2s", "max_frame_bytes": 65536},
		})
		secrets := []string{"literal:" + eventSecretOld, "literal:" + eventSecretNew}
		cl := cfg["clients"].([]any)[0].(map[string]any)
		cl["connections"] = []string{demoConn, "adt"}
		cl["webhooks"] = []any{
			map[string]any{"id": "a", "url": receiverURL + "/a", "event_types": []string{"encounter.*", "patient.*"},
				"secret_refs": secrets, "allow_private_network": true, "breaker_failures": 1000},
			map[string]any{"id": "b", "url": receiverURL + "/b", "payload": "full", "connections": []string{"adt"},
				"secret_refs": secrets, "allow_private_network": true, "breaker_failures": 1000},
		}
	}
}

// feedMessages are n ADT messages (A01, A08, A03 in turn) with control ids
// <prefix>1 … <prefix>n, of synthetic patients.
func feedMessages(prefix string, n int) []string {
	triggers := []string{"A01", "A08", "A03"}
	var out []string
	for i := 1; i <= n; i++ {
		tr := triggers[(i-1)%3]
		out = append(out, fmt.Sprintf("MSH|^~\\&|EPICADT|RIVERSIDE|FERRY|FERRY|20260301081500-0500||ADT^%s^ADT_A01|%s%d|P|2.5.1\r"+
			"EVN|%s|20260301081200-0500\r"+
			"PID|1||MRN%04d^^^RIVERSIDE^MR||QUILLFEATHER^ORLA||19720414|F\r"+
			"PV1|1|I|4WEST^412^A||||||||||||||||V%04d^^^RIVERSIDE^VN", tr, prefix, i, tr, i, i))
	}
	return out
}

// eventsFixture is a running ferry with its feed and receiver.
type eventsFixture struct {
	f                     *proc
	pid                   int // ferry's process id (under strace, not strace's)
	traced                *tracedFerry
	cfg, feed, admin, api string
	recv                  *testpeer.WebhookReceiver
}

func startEvents(t *testing.T, budget time.Duration) *eventsFixture {
	t.Helper()
	recv := testpeer.StartWebhookReceiver(t, eventSecretOld, eventSecretNew)
	fx := &eventsFixture{api: freePort(t), admin: freePort(t), feed: freePort(t), recv: recv}
	fx.cfg = eventsConfig(t, fx.api, fx.admin, fx.feed, recv.URL, budget)
	fx.f = startFerry(t, "serve", "--config", fx.cfg)
	fx.pid = fx.f.cmd.Process.Pid
	waitHTTP(t, "http://"+fx.admin+"/readyz", 200, 30*time.Second)
	return fx
}

// startTracedEvents is startEvents with ferry under strace (the PHI
// canary's harness), so a test can check it wrote no file.
func startTracedEvents(t *testing.T, budget time.Duration) *eventsFixture {
	t.Helper()
	if _, err := os.Stat(straceBin); err != nil {
		t.Fatalf("%s not found (%v): run `make test-deps`", straceBin, err)
	}
	recv := testpeer.StartWebhookReceiver(t, eventSecretOld, eventSecretNew)
	feed := freePort(t)
	tf := startTracedFerry(t, "http://127.0.0.1:1/fhir", addEvents(t, feed, recv.URL, budget))
	return &eventsFixture{f: tf.proc, pid: tf.ferryPID, traced: tf, feed: feed, admin: tf.admin, api: tf.listen, recv: recv}
}

// noFileWritten stops the traced ferry and checks strace saw no file
// written.
func (fx *eventsFixture) noFileWritten(t *testing.T) {
	t.Helper()
	fx.traced.stop(t)
	trace, err := os.ReadFile(fx.traced.trace)
	if err != nil {
		t.Fatal(err)
	}
	if writes, _ := fileWrites(string(trace), fx.traced.allow()); len(writes) > 0 {
		t.Fatalf("ferry wrote files: %v", writes)
	}
}

// checkExactlyOnce checks that, after deduplication by webhook-id, path
// holds one delivery per message (per event type that path takes), in the
// order sent, and that nothing failed verification.
func checkExactlyOnce(t *testing.T, recv *testpeer.WebhookReceiver, path string, messages []string) {
	t.Helper()
	if errs := recv.Errors(t); len(errs) > 0 {
		t.Fatalf("deliveries that failed standardwebhooks verification: %v", errs)
	}
	seen := map[string]bool{}
	var encounters []string
	for _, d := range recv.Deliveries(t) {
		if d.Path != path || seen[d.ID] {
			continue
		}
		seen[d.ID] = true
		if d.Body["id"] != d.ID {
			t.Fatalf("payload id %v under webhook-id %s", d.Body["id"], d.ID)
		}
		rec := d.Body["records"].([]any)[0].(map[string]any)
		encounters = append(encounters, fmt.Sprint(rec["resource"], "/", rec["id"]))
	}
	var want []string
	for _, m := range messages {
		segs := strings.Split(m, "\r")
		if strings.Contains(segs[0], "ADT^A08") {
			want = append(want, "patients/"+strings.Split(strings.Split(segs[2], "|")[3], "^")[0])
		} else {
			want = append(want, "encounters/"+strings.Split(strings.Split(segs[3], "|")[19], "^")[0])
		}
	}
	if !slices.Equal(encounters, want) {
		t.Fatalf("%s after dedup:\n got %v\nwant %v", path, encounters, want)
	}
}

func allAccepted(t *testing.T, attempts []testpeer.SendAttempt, n int) {
	t.Helper()
	var aa int
	for _, a := range attempts {
		if a.Ack == "AA" {
			aa++
		}
		if a.Ack == "CA" {
			t.Fatal("a commit accept")
		}
	}
	if aa != n {
		t.Fatalf("%d of %d messages accepted: %+v", aa, n, attempts)
	}
}

func TestEventsFaults(t *testing.T) {
	fx := startTracedEvents(t, 800*time.Millisecond)

	t.Run("delivered", func(t *testing.T) {
		msgs := feedMessages("OK", 6)
		allAccepted(t, testpeer.SendHL7(t, fx.feed, msgs, 3*time.Second, 100*time.Millisecond, 5), 6)
		checkExactlyOnce(t, fx.recv, "/a", msgs)
		_, metrics := get(t, "http://"+fx.admin+"/metrics", "")
		for _, want := range []string{`ferry_feed_messages_total{ack="AA",connection="adt"} 6`,
			`ferry_webhook_deliveries_total{client="demo-app",outcome="delivered",tenant="demo",webhook="a"} 6`,
			`ferry_webhook_delivery_seconds_sum{client="demo-app",tenant="demo",webhook="b"}`} {
			if !strings.Contains(string(metrics), want) {
				t.Fatalf("/metrics lacks %s", want)
			}
		}
		// The full payload carries the records; ids does not.
		for _, d := range fx.recv.Deliveries(t) {
			_, hasData := d.Body["data"]
			if hasData != (d.Path == "/b") {
				t.Fatalf("payload on %s: %v", d.Path, d.Body)
			}
		}
	})

	t.Run("medplum sender", func(t *testing.T) {
		// @medplum/hl7's Hl7Client as the engine, the receiver down for a
		// while: the same guarantee.
		fx.recv.Down(t, time.Second)
		msgs := feedMessages("MPL", 3)
		attempts := testpeer.SendHL7Medplum(t, fx.feed, msgs, 3*time.Second, 300*time.Millisecond, 30)
		allAccepted(t, attempts, 3)
		if attempts[0].Ack != "AE" {
			t.Fatalf("first attempt while the receiver was down: %+v", attempts[0])
		}
		checkExactlyOnce(t, fx.recv, "/a", append(feedMessages("OK", 6), msgs...))
	})

	t.Run("receiver down", func(t *testing.T) {
		fx.recv.Down(t, 2*time.Second)
		msgs := feedMessages("DOWN", 4)
		attempts := testpeer.SendHL7(t, fx.feed, msgs, 3*time.Second, 300*time.Millisecond, 30)
		allAccepted(t, attempts, 4)
		if attempts[0].Ack != "AE" {
			t.Fatalf("first attempt while the receiver was down: %+v", attempts[0])
		}
		checkExactlyOnce(t, fx.recv, "/a", slices.Concat(feedMessages("OK", 6), feedMessages("MPL", 3), msgs))
	})

	t.Run("receiver slow past the budget", func(t *testing.T) {
		fx.recv.SetMode(t, "/b", "slow", 1500*time.Millisecond)
		go func() {
			time.Sleep(2 * time.Second)
			fx.recv.SetMode(t, "/b", "ok", 0)
		}()
		msgs := feedMessages("SLOW", 3)
		attempts := testpeer.SendHL7(t, fx.feed, msgs, 3*time.Second, 200*time.Millisecond, 30)
		allAccepted(t, attempts, 3)
		if attempts[0].Ack != "AE" {
			t.Fatalf("first attempt with a slow receiver: %+v", attempts[0])
		}
	})

	t.Run("2xx for one subscription, 5xx for the other", func(t *testing.T) {
		fx.recv.SetMode(t, "/b", "fail", 0)
		go func() {
			time.Sleep(1500 * time.Millisecond)
			fx.recv.SetMode(t, "/b", "ok", 0)
		}()
		msgs := feedMessages("SPLIT", 3)
		attempts := testpeer.SendHL7(t, fx.feed, msgs, 3*time.Second, 200*time.Millisecond, 30)
		allAccepted(t, attempts, 3)
		if attempts[0].Ack != "AE" {
			t.Fatalf("first attempt with b failing: %+v", attempts[0])
		}
	})

	t.Run("unknown sender", func(t *testing.T) {
		msg := strings.Replace(feedMessages("UNK", 1)[0], "|EPICADT|", "|OTHERAPP|", 1)
		attempts := testpeer.SendHL7(t, fx.feed, []string{msg}, 3*time.Second, 100*time.Millisecond, 3)
		if len(attempts) != 1 || attempts[0].Ack != "AR" {
			t.Fatalf("unknown sender: %+v", attempts)
		}
		if !strings.Contains(fx.f.stdout.String(), `"error_code":"unknown_sender"`) {
			t.Fatal("no audit event for the unknown sender")
		}
	})

	t.Run("oversize, garbage, slowloris", func(t *testing.T) {
		big, _ := mllp.AppendFrame(nil, []byte("MSH|^~\\&|EPICADT|RIVERSIDE|"+strings.Repeat("x", 70000)))
		for name, payload := range map[string][]byte{"oversize": big, "garbage": bytes.Repeat([]byte("garbage "), 20000)} {
			c, err := net.Dial("tcp", fx.feed)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write(payload)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(make([]byte, 64))
			c.Close()
			if n != 0 || err == nil {
				t.Fatalf("%s: the feed answered instead of closing: %d %v", name, n, err)
			}
		}
		c, err := net.Dial("tcp", fx.feed)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_, _ = c.Write([]byte{mllp.StartBlock})
		for time.Since(start) < 4*time.Second {
			if _, err := c.Write([]byte("M")); err != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("slowloris kept for %s", time.Since(start))
		}
		// The feed still serves a good sender.
		allAccepted(t, testpeer.SendHL7(t, fx.feed, feedMessages("AFTER", 1), 3*time.Second, 100*time.Millisecond, 5), 1)
	})

	t.Run("plugin crash", func(t *testing.T) {
		// Each delivery takes a while, so the kill lands mid-stream.
		fx.recv.SetMode(t, "/a", "slow", 150*time.Millisecond)
		defer fx.recv.SetMode(t, "/a", "ok", 0)
		msgs := feedMessages("CRASH", 9)
		done := make(chan []testpeer.SendAttempt)
		go func() { done <- testpeer.SendHL7(t, fx.feed, msgs, 3*time.Second, 300*time.Millisecond, 40) }()
		time.Sleep(300 * time.Millisecond)
		before := childPIDs(t, fx.pid)
		for _, pid := range before {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		// A message whose mapping the crash cut is answered AE and resent;
		// one that arrives while the plugin restarts waits for it within
		// the budget. Either way none is lost or acknowledged undelivered.
		allAccepted(t, <-done, 9)
		waitFor(t, func() bool {
			after := childPIDs(t, fx.pid)
			return len(after) == len(before) && !slices.ContainsFunc(after, func(p int) bool { return slices.Contains(before, p) })
		}, 10*time.Second)
		var all []string
		for _, batch := range [][]string{feedMessages("OK", 6), feedMessages("MPL", 3), feedMessages("DOWN", 4), feedMessages("SLOW", 3),
			feedMessages("SPLIT", 3), feedMessages("AFTER", 1), msgs} {
			all = append(all, batch...)
		}
		checkExactlyOnce(t, fx.recv, "/a", all)
		checkExactlyOnce(t, fx.recv, "/b", all)
	})

	// Through every fault above, Ferry wrote no file.
	fx.noFileWritten(t)
}

// TestEventsSIGKILL kills ferry while a message is being delivered; a new
// process takes the feed over, and the sender's resend carries the same
// webhook-id, so the receiver deduplicates it.
func TestEventsSIGKILL(t *testing.T) {
	fx := startEvents(t, 2*time.Second)
	fx.recv.SetMode(t, "/a", "slow", 1*time.Second)
	msgs := feedMessages("KILL", 3)
	done := make(chan []testpeer.SendAttempt)
	go func() { done <- testpeer.SendHL7(t, fx.feed, msgs, 3*time.Second, 300*time.Millisecond, 60) }()
	time.Sleep(500 * time.Millisecond) // the first message is being delivered
	_ = syscall.Kill(-fx.f.cmd.Process.Pid, syscall.SIGKILL)
	fx.recv.SetMode(t, "/a", "ok", 0)
	startFerry(t, "serve", "--config", fx.cfg)
	waitHTTP(t, "http://"+fx.admin+"/readyz", 200, 30*time.Second)
	attempts := <-done
	allAccepted(t, attempts, 3)
	checkExactlyOnce(t, fx.recv, "/a", msgs)
	if attempts[0].Control != "KILL1" || attempts[0].Ack == "AA" {
		t.Fatalf("the message in flight at the kill was acknowledged: %+v", attempts)
	}
}

// TestEventsDemo runs `ferry demo --events` (what `make demo` runs): the
// sandbox sender's four messages are acknowledged AA and their six events
// reach the demo receiver, signatures verified.
func TestEventsDemo(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	f := startFerry(t, "demo", "--events", "--listen", listen, "--admin-listen", admin)
	waitFor(t, func() bool { return strings.Contains(f.stderr.String(), "ADT^A03^ADT_A03 -> AA") }, 30*time.Second)
	if n := strings.Count(f.stderr.String(), "webhook (signature verified)"); n != 6 {
		t.Fatalf("%d verified deliveries, want 6:\n%s", n, f.stderr.String())
	}
	if strings.Count(f.stderr.String(), "-> AA") != 4 {
		t.Fatalf("not every message acknowledged AA:\n%s", f.stderr.String())
	}
}
