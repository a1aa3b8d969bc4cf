package bench

// The events workload (issue 17): ADT A01 messages pushed over MLLP to a
// feed of the real ferry-connector-hl7v2 plugin process, open loop at a
// fixed rate over a pool of sender connections (each one message in
// flight, as MLLP allows; a message's latency counts from when it was
// due, so a slow answer is not hidden by a sender waiting), each mapped in
// the plugin, signed and delivered to a webhook receiver that answers 204
// at once, then acknowledged AA. In the same run, the receiver's own time
// is measured with direct POSTs of the same size.
//
// Reported: messages/s achieved, p50 and p99 from due time to AA, the
// receiver's own p50 and the difference (what Ferry adds), and CPU per
// message: this process (host, in-process receiver and sender) plus the
// plugin process, read from /proc, so its inverse is a floor on messages
// per second per core.
//
// Run: go test -run '^$' -bench FeedOpenLoop -benchtime 1x ./bench/
// Rate and length: FERRY_BENCH_FEED_RATE=2000 FERRY_BENCH_PHASE=5s

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/sha256"
	"encoding/hex"

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/internal/gateway"
	"github.com/ferryhealth/ferry/plugins"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/mllp"
	"github.com/ferryhealth/ferry/proxy/secrets"
)

const feedSenders = 64

func hl7Plugin(tb testing.TB) (string, string) {
	tb.Helper()
	path := ""
	if dir := os.Getenv("FERRY_BIN"); dir != "" {
		path = filepath.Join(dir, "ferry-connector-hl7v2")
	}
	if _, err := os.Stat(path); path == "" || err != nil {
		path = filepath.Join(tb.TempDir(), "ferry-connector-hl7v2")
		if out, err := exec.Command("go", "build", "-o", path, "github.com/ferryhealth/ferry/cmd/ferry-connector-hl7v2").CombinedOutput(); err != nil {
			tb.Fatalf("build the HL7 v2 plugin: %v: %s", err, out)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	d := sha256.Sum256(b)
	return path, hex.EncodeToString(d[:])
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func BenchmarkFeedOpenLoop(b *testing.B) {
	rate := 1000.0
	if v, err := strconv.ParseFloat(os.Getenv("FERRY_BENCH_FEED_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	phase := envDuration("FERRY_BENCH_PHASE", 5*time.Second)

	recvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = recv.Serve(recvLn) }()
	defer recv.Close()
	recvURL := "http://" + recvLn.Addr().String() + "/hook"

	plugin, sum := hl7Plugin(b)
	feedLn, _ := net.Listen("tcp", "127.0.0.1:0")
	feedAddr := feedLn.Addr().String()
	feedLn.Close()
	doc, _ := json.Marshal(map[string]any{
		"dev_mode": true,
		"node":     map[string]any{"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:1"},
		"plugins":  []any{map[string]any{"kind": "hl7v2", "path": plugin, "sha256": sum}},
		"tenants": []any{map[string]any{"id": "acme", "secrets": map[string]any{"provider": "env"},
			"audit": map[string]any{"key_ref": "literal:audit-key-feed-bench-0123456789abcdef"}}},
		"clients": []any{map[string]any{"id": "app", "tenant": "acme", "api_key_sha256": strings.Repeat("a", 64),
			"connections": []string{"adt"}, "webhooks": []any{map[string]any{"id": "hook", "url": recvURL,
				"secret_refs": []string{"literal:whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "allow_private_network": true}}}},
		"connections": []any{map[string]any{"id": "adt", "tenant": "acme", "connector": "hl7v2", "base_url": "mllp://127.0.0.1:1",
			"auth": map[string]any{"kind": "none"}, "allow_insecure_http": true,
			"settings": map[string]any{"id_authority": map[string]any{"namespace": "RIVERSIDE"}},
			"feed": map[string]any{"listen": feedAddr, "sending_application": "EPICADT", "sending_facility": "RIVERSIDE",
				"max_connections": feedSenders}}},
	})
	cfg, probs := config.Parse(doc, "")
	if len(probs) > 0 {
		b.Fatal(probs)
	}
	spec := plugins.Spec{Kind: "hl7v2", Path: plugin, Connections: []plugins.Connection{{ID: "adt", Settings: cfg.Connections[0].Settings}}}
	spec.SHA256, _ = hex.DecodeString(sum)
	host, err := plugins.NewHost([]plugins.Spec{spec}, plugins.Options{})
	if err != nil {
		b.Fatal(err)
	}
	host.Start()
	defer host.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := host.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	events, err := gateway.StartEvents(ctx, cfg, "bench", host, map[string]secrets.Provider{"acme": secrets.Env{}},
		&auditlogtest.Recorder{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer events.Close()

	// The receiver's own time: direct POSTs of a delivery's size.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	body := bytes.Repeat([]byte("x"), 450)
	var direct []time.Duration
	for range 2000 {
		t0 := time.Now()
		resp, err := client.Post(recvURL, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		direct = append(direct, time.Since(t0))
	}

	free := make(chan *feedSender, feedSenders)
	for range feedSenders {
		c, err := net.Dial("tcp", feedAddr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		free <- &feedSender{conn: c, r: mllp.NewReader(c, 0)}
	}
	n := int(rate * phase.Seconds())
	lat := make([]time.Duration, n)
	var failed sync.Map
	var wg sync.WaitGroup
	cpu0 := processCPU(os.Getpid()) + processCPU(host.PID("hl7v2"))
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		time.Sleep(time.Until(due))
		s := <-free
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.send(i); err != nil {
				failed.Store(i, err)
			}
			lat[i] = time.Since(due)
			free <- s
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU(os.Getpid()) + processCPU(host.PID("hl7v2")) - cpu0
	errs := 0
	failed.Range(func(any, any) bool { errs++; return true })
	slices.Sort(lat)
	p50, p99, d50 := lat[n/2], lat[n*99/100], median(direct)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(d50.Microseconds()), "receiver-p50-µs")
	b.ReportMetric(float64((p50 - d50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/msg")
	b.ReportMetric(float64(errs), "errors")
	b.Logf("rate %.0f/s for %s: %d messages, %d not AA; msgs/s per core (floor) %.0f", rate, phase, n, errs,
		1e6/(float64(cpu.Microseconds())/float64(n)))
}

type feedSender struct {
	conn  net.Conn
	r     *mllp.Reader
	frame []byte
}

func (s *feedSender) send(i int) error {
	msg := fmt.Sprintf("MSH|^~\\&|EPICADT|RIVERSIDE|FERRY|FERRY|20260301081500-0500||ADT^A01^ADT_A01|B%d|P|2.5.1\r"+
		"EVN|A01|20260301081200-0500\rPID|1||MRN%d^^^RIVERSIDE^MR||QUILLFEATHER^ORLA||19720414|F\r"+
		"PV1|1|I|4WEST^412^A||||||||||||||||V%d^^^RIVERSIDE^VN", i, i, i)
	s.frame, _ = mllp.AppendFrame(s.frame[:0], []byte(msg))
	_ = s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(s.frame); err != nil {
		return err
	}
	ack, err := s.r.ReadFrame()
	if err != nil {
		return err
	}
	if !bytes.Contains(ack, []byte("MSA|AA")) {
		return fmt.Errorf("not AA")
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// processCPU is a process's user and system CPU time so far, from
// /proc/<pid>/stat (clock ticks of 10 ms on Linux).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
