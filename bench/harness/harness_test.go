package harness

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestQuickRun runs the whole harness end to end in quick mode: the
// command built as `go run` would, the fixture, nginx, the fasthttp proxy
// the real ferry with its real plugin and the same pipeline with the
// connector in-process, every workload for a fraction
// of a second. It checks that the harness works and prints its tables,
// not how fast anything is.
//
// Alone: go test -run TestQuickRun -v ./bench/harness/
// Needs Debian's nginx (make debian-peers installs it).
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and ferry; -short skips it")
	}
	if _, err := NginxPath(); err != nil {
		t.Fatal(err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ferry-bench")
	build := exec.Command("go", "build", "-o", bin, "./bench/cmd/ferry-bench")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := t.TempDir()
	args := []string{"-quick", "-out", out}
	if d := os.Getenv("FERRY_BIN"); d != "" {
		args = append(args, "-bin", d)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("ferry-bench -quick: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("quick run took %v\n%s", time.Since(began).Round(time.Second), stdout.String())

	table := stdout.String()
	for _, want := range []string{"Machine:", "| workload | target |", "| W1 | direct |", "| W1 | nginx |",
		"| W1 | fastproxy |", "| W1 | ferry |", "| W1 | inprocess |", "| W3 | inprocess |", "| W3 | ferry |", "W4 (op = 5-page walk) | ferry", "| W5 | ferry N=100 |",
		"| W6 | ferry |", "### Compass"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	csvs, _ := filepath.Glob(filepath.Join(out, "bench-*.csv"))
	if len(csvs) != 1 {
		t.Fatalf("want one CSV in %s, got %v", out, csvs)
	}
	b, err := os.ReadFile(csvs[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != csvHeader || len(lines) < 20 {
		t.Fatalf("CSV: %d lines, header %q", len(lines), lines[0])
	}
	// Every phase answered: a harness that measures errors measures
	// nothing.
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if f[7] == "0" {
			t.Errorf("phase with no successful operation: %s", l)
		}
	}
}

// TestFixture checks the fixture's answers: a Patient with the id asked
// for, and searchset pages with next links that follow.
func TestFixture(t *testing.T) {
	f, err := NewFixture(FixtureOptions{Total: 45})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := newClient(f.Addr(), 4)
	var body []byte
	if err := request(c, FHIRPrefix+"/Patient/p-7", "", func(b []byte) { body = append(body, b...) }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"id":"p-7"`)) || !bytes.Contains(body, []byte(`"resourceType":"Patient"`)) {
		t.Fatalf("patient: %.200s", body)
	}
	// 45 in pages of 20: two next links, then none.
	op := searchOp(&Target{Kind: KindDirect}, 20, 3)
	if err := op(c, 0); err != nil {
		t.Fatal(err)
	}
	if err := searchOp(&Target{Kind: KindDirect}, 20, 4)(c, 0); err != errNoNext {
		t.Fatalf("fourth page: %v, want %v", err, errNoNext)
	}
	status, _, err := fasthttp.Get(nil, "http://"+f.Addr()+FHIRPrefix+"/Observation?patient=x&_count=200")
	if err != nil || status != 200 {
		t.Fatalf("search 200: %d %v", status, err)
	}
}

// TestOpenLoopChargesStalls checks the open loop measures from the
// schedule: against a source that answers in 20 ms one at a time, 100
// operations per second back up, and latencies grow far past 20 ms.
func TestOpenLoopChargesStalls(t *testing.T) {
	f, err := NewFixture(FixtureOptions{Latency: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tg := &Target{Kind: KindDirect, Addr: f.Addr()}
	r := OpenLoop(newClient(f.Addr(), 1), readOp(tg, "", 0), 100, 1, 0, time.Second, Hooks{})
	if r.OK != 100 {
		t.Fatalf("%d OK, %d errors", r.OK, r.Err)
	}
	// One connection serves 50/s: the last of 100 sent over 1 s waits
	// about a second.
	if p99 := r.Quantile(0.99); p99 < 500*time.Millisecond {
		t.Fatalf("p99 %v: the open loop does not charge queueing to the target", p99)
	}
}

// TestSummarizePerf checks the profile's charging rules on hand-written
// stacks: kernel time goes to the Go code that made the system call (a
// data-plane frame write to the plugin hop), TLS encryption to TLS,
// allocation to the collector.
func TestSummarizePerf(t *testing.T) {
	script := `ferry 
	ffffffff1 pvm_irq_enable ([kernel.kallsyms])
	ffffffff2 do_syscall_64 ([kernel.kallsyms])
	1 internal/runtime/syscall/linux.Syscall6 (/bin/ferry)
	2 internal/poll.(*FD).Write (/bin/ferry)
	3 net.(*Buffers).WriteTo (/bin/ferry)
	4 github.com/ferryhealth/ferry/connectors.(*frameWriter).loop (/bin/ferry)

ferry-connector 
	1 crypto/internal/fips140/aes/gcm.seal (/bin/plugin)
	2 crypto/tls.(*halfConn).encrypt (/bin/plugin)
	3 crypto/tls.(*Conn).Write (/bin/plugin)
	4 google.golang.org/grpc/internal/transport.(*loopyWriter).run (/bin/plugin)

ferry 
	1 runtime.mallocgc (/bin/ferry)
	2 github.com/goccy/go-json.Unmarshal (/bin/ferry)

ferry 
	ffffffff1 schedule ([kernel.kallsyms])
	1 runtime.futex (/bin/ferry)
	2 runtime.schedule (/bin/ferry)
`
	out := SummarizePerf(strings.NewReader(script))
	for _, want := range []string{
		"| plugin hop: data plane (frames, both ends), go-plugin control plane | 25.0% | 25.0% |",
		"| " + layerTLS + " | 25.0% | 0.0% |",
		"| " + layerGC + " | 25.0% |",
		"| " + layerRuntime + " | 25.0% | 25.0% |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
