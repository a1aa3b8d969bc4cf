package harness

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// A layer is where a CPU sample is charged: the first frame, from the leaf
// up, that belongs to a known layer. Kernel frames and the plumbing of I/O
// (net, internal/poll, syscall, bufio) are walked through, so the kernel
// time of a write is charged to whoever wrote: the plugin hop's socket
// round trips land on the plugin hop.
var layers = []struct {
	name     string
	prefixes []string
}{
	// The SDK's root package is, in both processes, the data plane's two
	// ends (frames, HostConn, the plugin's end); gRPC is left only for
	// go-plugin's control plane and health probes.
	{"plugin hop: data plane (frames, both ends), go-plugin control plane", []string{"github.com/ferryhealth/ferry/connectors.",
		"github.com/ferryhealth/ferry/plugins.", "google.golang.org/grpc", "golang.org/x/net/http2",
		"google.golang.org/protobuf", "github.com/hashicorp/", "github.com/ferryhealth/ferry/connectors/proto",
		"github.com/golang/protobuf"}},
	{"JSON: encoding/json, goccy/go-json", []string{"encoding/json", "github.com/goccy/go-json"}},
	{"fasthttp: API server and source client", []string{"github.com/valyala/fasthttp"}},
	{"FHIR mapping (connector)", []string{"github.com/ferryhealth/ferry/connectors/fhir", "github.com/ferryhealth/ferry/unified"}},
	{"audit: chain, HMAC, signing, sink", []string{"github.com/ferryhealth/ferry/auditlog"}},
	{"metrics (Prometheus)", []string{"github.com/prometheus/"}},
	{"proxy pipeline (routing, auth, transport)", []string{"github.com/ferryhealth/ferry/proxy"}},
	{"logging", []string{"log/slog"}},
}

const (
	layerTLS     = "TLS record encryption (go-plugin's control plane; no request travels there)"
	layerCrypto  = "crypto outside TLS (audit HMAC, chain hash, signatures; cursors)"
	layerGC      = "Go GC and allocation"
	layerRuntime = "Go scheduler, netpoll, sysmon"
	layerKernel  = "kernel, not reached from Go code"
	layerOther   = "other"
)

// gcFrame reports whether a runtime frame is the collector's or the
// allocator's.
func gcFrame(sym string) bool {
	for _, s := range []string{"gc", "malloc", "sweep", "scan", "mark", "mspan", "mheap", "mcache", "HeapBits", "heapBits",
		"wbBuf", "DeferToSpan", "newobject", "makeslice", "growslice", "mallocgc", "largeAlloc", "nextFreeFast", "bulkBarrier"} {
		if strings.Contains(sym, s) {
			return true
		}
	}
	return false
}

func plumbing(sym string) bool {
	for _, p := range []string{"crypto/tls.(*Conn).", "net.", "internal/poll.", "syscall.", "bufio.", "io.", "os.", "internal/runtime/syscall", "sync.", "context."} {
		if strings.HasPrefix(sym, p) {
			return true
		}
	}
	return false
}

// classify charges one sample's stack (leaf first) to a layer.
func classify(stack []string, kernel []bool) string {
	for i, sym := range stack {
		if kernel[i] || sym == "[unknown]" || plumbing(sym) {
			continue
		}
		if strings.HasPrefix(sym, "runtime.") || strings.HasPrefix(sym, "internal/runtime") {
			if gcFrame(sym) {
				return layerGC
			}
			continue
		}
		if strings.HasPrefix(sym, "crypto/") {
			// Encryption of the plugin socket, or the audit's and the
			// cursors' own: the stack above tells.
			if slices.ContainsFunc(stack, func(s string) bool { return strings.HasPrefix(s, "crypto/tls.") }) {
				return layerTLS
			}
			if slices.ContainsFunc(stack, func(s string) bool { return strings.HasPrefix(s, "github.com/ferryhealth/ferry/auditlog") }) {
				return "audit: chain, HMAC, signing, sink"
			}
			return layerCrypto
		}
		for _, l := range layers {
			for _, p := range l.prefixes {
				if strings.HasPrefix(sym, p) {
					return l.name
				}
			}
		}
		return layerOther + " (" + pkgOf(sym) + ")"
	}
	if len(stack) > 0 && !kernel[len(stack)-1] {
		return layerRuntime
	}
	for i := range stack {
		if !kernel[i] {
			return layerRuntime
		}
	}
	return layerKernel
}

func pkgOf(sym string) string {
	i := strings.LastIndex(sym, "/")
	j := strings.Index(sym[i+1:], ".")
	if j < 0 {
		return sym
	}
	return sym[:i+1+j]
}

// SummarizePerf reads `perf script -F comm,ip,sym,dso` output and returns
// a markdown table: each layer's share of the sampled CPU, the kernel's
// part of it, and how it splits between the processes.
func SummarizePerf(r io.Reader) string {
	type agg struct {
		n, kern int
		byComm  map[string]int
	}
	by := map[string]*agg{}
	comms := map[string]int{}
	total, kernTotal := 0, 0
	var comm string
	var stack []string
	var kernel []bool
	flush := func() {
		if comm == "" || len(stack) == 0 {
			comm, stack, kernel = "", stack[:0], kernel[:0]
			return
		}
		l := classify(stack, kernel)
		a := by[l]
		if a == nil {
			a = &agg{byComm: map[string]int{}}
			by[l] = a
		}
		a.n++
		a.byComm[comm]++
		comms[comm]++
		total++
		if kernel[0] {
			a.kern++
			kernTotal++
		}
		comm, stack, kernel = "", stack[:0], kernel[:0]
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] != '\t' && line[0] != ' ' {
			flush()
			comm = strings.TrimSpace(line)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		sym := strings.Join(f[1:len(f)-1], " ")
		if i := strings.LastIndex(sym, "+0x"); i > 0 {
			sym = sym[:i]
		}
		dso := f[len(f)-1]
		stack = append(stack, sym)
		kernel = append(kernel, strings.Contains(dso, "kernel"))
	}
	flush()
	if total == 0 {
		return "no samples\n"
	}
	// Fold the long tail of small "other" packages into one line.
	small := &agg{byComm: map[string]int{}}
	for n, a := range by {
		if strings.HasPrefix(n, layerOther) && float64(a.n) < 0.005*float64(total) {
			small.n += a.n
			small.kern += a.kern
			for c, k := range a.byComm {
				small.byComm[c] += k
			}
			delete(by, n)
		}
	}
	if small.n > 0 {
		by[layerOther+" (packages under 0.5% each)"] = small
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return by[b].n - by[a].n })
	cs := make([]string, 0, len(comms))
	for c := range comms {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples; kernel %.0f%%;", total, 100*float64(kernTotal)/float64(total))
	for _, c := range cs {
		fmt.Fprintf(&b, " %s %.0f%%", c, 100*float64(comms[c])/float64(total))
	}
	b.WriteString("\n\n| layer | share of server CPU | of which in the kernel |")
	for _, c := range cs {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n| --- | --- | --- |" + strings.Repeat(" --- |", len(cs)) + "\n")
	for _, n := range names {
		a := by[n]
		fmt.Fprintf(&b, "| %s | %.1f%% | %.1f%% |", n, 100*float64(a.n)/float64(total), 100*float64(a.kern)/float64(total))
		for _, c := range cs {
			fmt.Fprintf(&b, " %.1f%% |", 100*float64(a.byComm[c])/float64(total))
		}
		b.WriteString("\n")
	}
	return b.String()
}
