package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// TestTracesInJaeger: the real ferry, its real FHIR plugin and Medplum,
// exporting to Jaeger over OTLP (HTTP, and gRPC in a second run). A
// client's traceparent makes one trace: Jaeger answers it by the client's
// trace id, with the request, stage, plugin and source spans; Medplum saw
// the same trace id; the audit event names it. No PHI marker from the
// records read (ids, names, birth dates) is in any span.
func TestTracesInJaeger(t *testing.T) {
	jaeger := testpeer.StartJaeger(t)
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	for i, proto := range []string{"http", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			endpoint := jaeger.OTLPHTTP
			if proto == "grpc" {
				endpoint = jaeger.OTLPGRPC
			}
			listen, admin := freePort(t), freePort(t)
			cfgPath := writeConfig(t, peer.BaseURL, listen, admin)
			var cfg map[string]any
			_ = json.Unmarshal(mustRead(t, cfgPath), &cfg)
			cfg["node"].(map[string]any)["tracing"] = map[string]any{"endpoint": endpoint, "protocol": proto, "sample_ratio": 0}
			b, _ := json.Marshal(cfg)
			if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			f := startFerry(t, "serve", "--config", cfgPath)
			waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
			base := "http://" + listen + "/v1/demo"
			peer.ResetRequests(t)

			// Jaeger shortens ids whose high half is zero: take a full one.
			traceID := fmt.Sprintf("%016x%016x", 0xa1b2c3d4e5f60718+uint64(i), time.Now().UnixNano())
			traceparent := "00-" + traceID + "-00f067aa0ba902b7-01"
			send := func(path string, traceparent string) []byte {
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
				req.Header.Set("traceparent", traceparent)
				resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
				}
				return b
			}
			id := peer.PatientIDs[0]
			var p unified.Patient
			if err := json.Unmarshal(send("/patients/"+id, traceparent), &p); err != nil || len(p.Names) == 0 {
				t.Fatalf("read: %v %+v", err, p)
			}
			send("/patients?name="+url.QueryEscape(p.Names[0].Family), traceparent)
			// The client's parent says "not sampled", and the ratio is 0:
			// nothing of that trace may be exported.
			unsampledID := fmt.Sprintf("%016x%016x", 0xb1c2d3e4f5061728+uint64(i), time.Now().UnixNano())
			send("/patients/"+id, "00-"+unsampledID+"-00f067aa0ba902b7-00")

			spans, raw := jaeger.Trace(t, traceID, 8, 30*time.Second)
			// The sampled trace is in, so a batch holding the unsampled
			// request's spans would be too.
			if n := jaeger.Spans(t, unsampledID); n != 0 {
				t.Errorf("%d spans exported for a request whose parent was not sampled", n)
			}
			ops := map[string]int{}
			for _, s := range spans {
				if s.TraceID != traceID {
					t.Errorf("span %s in trace %s", s.OperationName, s.TraceID)
				}
				ops[s.OperationName]++
			}
			for _, want := range []string{"GET /v1/{connection_id}/{resource}/{id}", "GET /v1/{connection_id}/{resource}",
				"authenticate", "admit_audit", "admit_connection", "dispatch", "plugin read", "plugin search", "source GET"} {
				if ops[want] == 0 {
					t.Errorf("no %q span; got %v", want, ops)
				}
			}
			// The source saw the trace: every call Ferry made for the two
			// traced requests carried its id, under a span of Ferry's.
			reqs := peer.Requests(t)
			traced := 0
			for _, r := range reqs {
				if strings.HasPrefix(r.Traceparent, "00-"+traceID+"-") {
					traced++
					if r.Traceparent == traceparent {
						t.Errorf("the source got the client's own span id, not Ferry's source span")
					}
				}
			}
			if traced < 2 {
				t.Errorf("%d of %d source calls carried trace %s: %+v", traced, len(reqs), traceID, reqs)
			}
			// The audit trail names the trace: twice for the traced
			// requests, once for the unsampled one.
			waitFor(t, func() bool {
				out := f.stdout.String()
				return strings.Count(out, `"trace_id":"`+traceID+`"`) == 2 && strings.Count(out, `"trace_id":"`+unsampledID+`"`) == 1
			}, 5*time.Second)

			// No PHI in any span, tag or event.
			canaries := []string{id, p.Names[0].Family, p.BirthDate}
			canaries = append(canaries, p.Names[0].Given...)
			for _, c := range canaries {
				if len(c) >= 4 && strings.Contains(string(raw), c) {
					t.Errorf("PHI %q in the exported trace", c)
				}
			}
			if t.Failed() {
				t.Logf("trace: %.4000s", raw)
			}
		})
	}
}
