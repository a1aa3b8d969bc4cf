package testpeer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// webhookDir is the webhook receiver peer, relative to the repository root.
const webhookDir = "testdata/peers/webhook-receiver"

// WebhookReceiver is a Node webhook receiver that verifies every delivery
// with npm standardwebhooks (the Standard Webhooks reference library) and
// answers as the test programs it: 2xx, 5xx, slowly, or not at all.
type WebhookReceiver struct {
	// URL is the deliveries' base URL: a subscription's URL is URL + path.
	URL     string
	control string
}

// Delivery is one delivery the receiver verified and answered 2xx.
type Delivery struct {
	Path string         `json:"path"`
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Body map[string]any `json:"body"`
}

// StartWebhookReceiver starts the receiver on 127.0.0.1; every delivery
// must verify with each of secrets ("whsec_…"). It is stopped when the
// test ends.
func StartWebhookReceiver(t testing.TB, secrets ...string) *WebhookReceiver {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, webhookDir)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		t.Fatalf("webhook receiver peer not installed (%v): run 'make test-deps'", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("webhook receiver peer: node not found (%v)", err)
	}
	cmd := exec.Command(node, append([]string{filepath.Join(dir, "receiver.js")}, secrets...)...)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("webhook receiver stderr:\n%s", stderr.String())
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	var ports struct{ Port, Control int }
	select {
	case s := <-line:
		if err := json.Unmarshal([]byte(s), &ports); err != nil || ports.Port == 0 {
			t.Fatalf("webhook receiver: ready line %q: %v", s, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("webhook receiver did not start within 20s")
	}
	return &WebhookReceiver{URL: fmt.Sprintf("http://127.0.0.1:%d", ports.Port), control: fmt.Sprintf("http://127.0.0.1:%d", ports.Control)}
}

func (r *WebhookReceiver) post(t testing.TB, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(r.control+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// SetMode makes deliveries to path answer 204 ("ok"), 503 ("fail"), or
// 204 after delay ("slow").
func (r *WebhookReceiver) SetMode(t testing.TB, path, mode string, delay time.Duration) {
	r.post(t, "/mode", map[string]any{"path": path, "mode": mode, "delay_ms": delay.Milliseconds()})
}

// Down stops the receiver accepting deliveries for d (connections are
// refused), then it listens again on the same port.
func (r *WebhookReceiver) Down(t testing.TB, d time.Duration) {
	r.post(t, "/down", map[string]any{"ms": d.Milliseconds()})
}

// Deliveries returns the verified deliveries, in the order answered.
func (r *WebhookReceiver) Deliveries(t testing.TB) []Delivery {
	t.Helper()
	var out []Delivery
	r.getJSON(t, "/deliveries", &out)
	return out
}

// Errors returns the deliveries that failed verification.
func (r *WebhookReceiver) Errors(t testing.TB) []map[string]string {
	t.Helper()
	var out []map[string]string
	r.getJSON(t, "/errors", &out)
	return out
}

func (r *WebhookReceiver) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := http.Get(r.control + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// SendAttempt is one attempt of the HL7 sender: the message's MSH-10, the
// ACK code it got ("AA", "AE", "AR", "timeout", "closed"), its try number.
type SendAttempt struct {
	Control string `json:"control"`
	Ack     string `json:"ack"`
	Try     int    `json:"try"`
}

// SendHL7 sends messages in order to addr with python3-hl7's MLLPClient,
// resending each, as an interface engine does, until it gets AA or AR
// (after AE, an ACK timeout or a closed connection: wait resend, then a new
// connection), at most tries times. It returns every attempt.
func SendHL7(t testing.TB, addr string, messages []string, ackTimeout, resend time.Duration, tries int) []SendAttempt {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return runSender(t, exec.Command("/usr/bin/python3", filepath.Join(root, "testdata/peers/hl7-sender/sender.py")),
		addr, messages, ackTimeout, resend, tries)
}

// SendHL7Medplum is SendHL7 with @medplum/hl7's Hl7Client as the sender
// (testdata/peers/medplum/hl7-sender.mjs).
func SendHL7Medplum(t testing.TB, addr string, messages []string, ackTimeout, resend time.Duration, tries int) []SendAttempt {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, medplumDir)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@medplum", "hl7", "package.json")); err != nil {
		t.Fatalf("@medplum/hl7 not installed (%v): run 'make test-deps'", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v", err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "hl7-sender.mjs"))
	cmd.Dir = dir
	return runSender(t, cmd, addr, messages, ackTimeout, resend, tries)
}

func runSender(t testing.TB, cmd *exec.Cmd, addr string, messages []string, ackTimeout, resend time.Duration, tries int) []SendAttempt {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	in, _ := json.Marshal(messages)
	cmd.Args = append(cmd.Args, host, port, fmt.Sprint(ackTimeout.Seconds()), fmt.Sprint(resend.Seconds()), fmt.Sprint(tries))
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out []SendAttempt
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var a SendAttempt
		if json.Unmarshal([]byte(line), &a) == nil {
			out = append(out, a)
		}
	}
	if runErr != nil && len(out) == 0 {
		t.Fatalf("HL7 sender %s: %v\n%s", filepath.Base(cmd.Args[1]), runErr, stderr.String())
	}
	return out
}
