package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestTracing(t *testing.T) {
	doc := func(devMode bool, tracing string) []byte {
		d := strings.Replace(fmt.Sprintf(validDoc, hexA, hexB), `"region": "us"}`, `"region": "us", "tracing": `+tracing+`}`, 1)
		if !devMode {
			d = strings.Replace(d, `"dev_mode": true,`, `"dev_mode": false,`, 1)
		}
		return []byte(d)
	}
	c, probs := Parse(doc(true, `{"endpoint": "http://127.0.0.1:4318"}`), "")
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if tr := c.Node.Tracing; tr.Protocol != TracingHTTP || *tr.SampleRatio != DefaultTraceSampleRatio {
		t.Fatalf("defaults: %+v", tr)
	}
	for _, tc := range []struct {
		dev     bool
		tracing string
		path    string // "" when valid
	}{
		{false, `{"endpoint": "https://otel.example:4317", "protocol": "grpc", "sample_ratio": 0}`, ""},
		{false, `{"endpoint": "http://localhost:4318", "sample_ratio": 1}`, ""},
		{false, `{"endpoint": "http://otel-collector:4318", "insecure": true}`, ""},
		{false, `{"endpoint": "http://otel-collector:4318"}`, "$.node.tracing.endpoint"},
		{true, `{"endpoint": "http://otel-collector:4318"}`, ""},
		{true, `{}`, "$.node.tracing.endpoint"},
		{true, `{"endpoint": "https://u:p@otel.example"}`, "$.node.tracing.endpoint"},
		{true, `{"endpoint": "https://otel.example/v1/traces"}`, "$.node.tracing.endpoint"},
		{true, `{"endpoint": "ftp://otel.example"}`, "$.node.tracing.endpoint"},
		{true, `{"endpoint": "https://otel.example", "protocol": "zipkin"}`, "$.node.tracing.protocol"},
		{true, `{"endpoint": "https://otel.example", "sample_ratio": 1.5}`, "$.node.tracing.sample_ratio"},
		{true, `{"endpoint": "https://otel.example", "headers": {"x": "y"}}`, "$.node.tracing"},
	} {
		_, probs := Parse(doc(tc.dev, tc.tracing), "")
		var paths []string
		for _, p := range probs {
			if strings.HasPrefix(p.Path, "$.node.tracing") {
				paths = append(paths, p.Path)
			}
		}
		switch {
		case tc.path == "" && len(paths) > 0:
			t.Errorf("%s: refused: %v", tc.tracing, probs)
		case tc.path != "" && (len(paths) == 0 || !strings.HasPrefix(paths[0], tc.path)):
			t.Errorf("%s: problems %v, want one at %s", tc.tracing, probs, tc.path)
		}
	}
}
