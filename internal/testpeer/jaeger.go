package testpeer

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

const jaegerStartTimeout = 60 * time.Second

// Jaeger is a running Jaeger v2 (v1.75.0, built by `make test-deps` into
// .tools/jaeger): OTLP receivers on 127.0.0.1 and the query API, traces
// kept in memory.
type Jaeger struct {
	// OTLPHTTP and OTLPGRPC are the receivers' base URLs
	// (http://127.0.0.1:port), what Ferry's node.tracing.endpoint names.
	OTLPHTTP, OTLPGRPC string
	// Query is the query API's base URL.
	Query string

	cmd    *exec.Cmd
	exited chan struct{}
	out    *tailBuffer
	once   sync.Once
}

// jaegerBinary is $FERRY_JAEGER, else the repository's .tools/jaeger.
func jaegerBinary() (string, error) {
	if p := os.Getenv("FERRY_JAEGER"); p != "" {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".tools", "jaeger"), nil
}

// StartJaeger starts Jaeger on free 127.0.0.1 ports and returns once its
// receivers and query API answer. It is stopped when the test ends. A
// missing binary fails the test with how to build it.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin, err := jaegerBinary()
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		t.Fatalf("jaeger peer: %v: run `make test-deps` (it builds Jaeger into .tools/jaeger) or set FERRY_JAEGER", err)
	}
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			t.Fatalf("jaeger peer: %v", err)
		}
	}
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	conf := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(jaegerConfig, addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3]))), 0o600); err != nil {
		t.Fatalf("jaeger peer: %v", err)
	}
	j := &Jaeger{
		OTLPHTTP: "http://" + addr(ports[0]), OTLPGRPC: "http://" + addr(ports[1]), Query: "http://" + addr(ports[2]),
		out: &tailBuffer{max: maxStderr}, exited: make(chan struct{}),
	}
	j.cmd = exec.Command(bin, "--config=file:"+conf)
	j.cmd.Stdout, j.cmd.Stderr = j.out, j.out
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	j.cmd.WaitDelay = stopGrace
	if err := j.cmd.Start(); err != nil {
		t.Fatalf("jaeger peer: %v", err)
	}
	go func() {
		_ = j.cmd.Wait()
		close(j.exited)
	}()
	t.Cleanup(func() {
		j.Stop()
		if t.Failed() {
			t.Logf("jaeger peer output:\n%s", j.out.String())
		}
	})
	deadline := time.Now().Add(jaegerStartTimeout)
	for _, a := range []string{addr(ports[0]), addr(ports[1])} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			j.waitOrFail(t, deadline)
		}
	}
	for {
		resp, err := http.Get(j.Query + "/api/services")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		j.waitOrFail(t, deadline)
	}
	return j
}

func (j *Jaeger) waitOrFail(t testing.TB, deadline time.Time) {
	t.Helper()
	select {
	case <-j.exited:
		t.Fatalf("jaeger peer exited during start-up (%v):\n%s", j.cmd.ProcessState, j.out.String())
	case <-time.After(100 * time.Millisecond):
	}
	if time.Now().After(deadline) {
		t.Fatalf("jaeger peer: not ready after %s:\n%s", jaegerStartTimeout, j.out.String())
	}
}

// jaegerConfig: OTLP over HTTP and gRPC in, memory storage, the query API;
// no telemetry listener of its own, no fixed port.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    traces:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: %[3]s
    grpc:
      endpoint: %[4]s
receivers:
  otlp:
    protocols:
      http:
        endpoint: %[1]s
      grpc:
        endpoint: %[2]s
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`

// Stop stops Jaeger (SIGTERM, then SIGKILL). Safe to call more than once.
func (j *Jaeger) Stop() {
	j.once.Do(func() { stopGroup(j.cmd, j.exited) })
}

// JaegerSpan is a span as the query API answers it.
type JaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []JaegerTag `json:"tags"`
	Logs []struct {
		Fields []JaegerTag `json:"fields"`
	} `json:"logs"`
	ProcessID string `json:"processID"`
}

// JaegerTag is a span attribute (or an event's field).
type JaegerTag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Trace returns the spans of one trace (lowercase hex id), waiting up to
// wait for at least min of them to arrive; the raw answer comes along, for
// scanning whole.
func (j *Jaeger) Trace(t testing.TB, traceID string, min int, wait time.Duration) ([]JaegerSpan, []byte) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		status, spans, raw := j.fetch(t, traceID)
		if status == http.StatusOK && len(spans) >= min {
			return spans, raw
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger peer: trace %s: status %d after %s: %.500s", traceID, status, wait, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Spans returns how many spans Jaeger holds for a trace now (0 when it
// knows no such trace).
func (j *Jaeger) Spans(t testing.TB, traceID string) int {
	t.Helper()
	status, spans, raw := j.fetch(t, traceID)
	if status != http.StatusOK && status != http.StatusNotFound {
		t.Fatalf("jaeger peer: trace %s: status %d: %.300s", traceID, status, raw)
	}
	return len(spans)
}

// fetch asks the query API for one trace: its status, the spans of a
// 200 answer, and the raw answer.
func (j *Jaeger) fetch(t testing.TB, traceID string) (int, []JaegerSpan, []byte) {
	t.Helper()
	resp, err := http.Get(j.Query + "/api/traces/" + traceID)
	if err != nil {
		t.Fatalf("jaeger peer: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	var body struct {
		Data []struct {
			Spans []JaegerSpan `json:"spans"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, raw
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("jaeger peer: trace %s: %v: %.300s", traceID, err, raw)
	}
	var spans []JaegerSpan
	for _, d := range body.Data {
		spans = append(spans, d.Spans...)
	}
	return resp.StatusCode, spans, raw
}
