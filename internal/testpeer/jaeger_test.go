package testpeer

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestJaeger: the peer takes an OTLP/JSON span and answers it by trace id.
func TestJaeger(t *testing.T) {
	j := StartJaeger(t)
	const traceID = "5b8efff798038103d269b633813fc60c"
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"peer-test"}}]},
	 "scopeSpans":[{"spans":[{"traceId":"` + traceID + `","spanId":"eee19b7ec3c1b174","name":"probe","kind":2,
	 "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000"}]}]}]}`
	resp, err := http.Post(j.OTLPHTTP+"/v1/traces", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OTLP export: %s", resp.Status)
	}
	spans, raw := j.Trace(t, traceID, 1, 10*time.Second)
	if len(spans) != 1 || spans[0].OperationName != "probe" || !bytes.Contains(raw, []byte("peer-test")) {
		t.Fatalf("trace: %s", raw)
	}
}
