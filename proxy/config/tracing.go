package config

import (
	"net"
	"net/url"
)

// Tracing exports OpenTelemetry traces of API requests over OTLP
// (docs/tracing.md). Absent: no spans are recorded or exported, though a
// client's W3C traceparent is still passed on to sources and its trace id
// written to the audit event.
type Tracing struct {
	// Endpoint is the OTLP receiver's base URL: "http://127.0.0.1:4318"
	// (protocol http, which posts to /v1/traces) or "https://otel:4317"
	// (protocol grpc). https is required unless the host is loopback, or
	// insecure or dev_mode is set. Required.
	Endpoint string `json:"endpoint"`
	// Protocol is "http" (OTLP/HTTP protobuf, the default) or "grpc".
	Protocol string `json:"protocol,omitempty"`
	// Insecure allows an http endpoint off loopback: a collector reached
	// over the cluster network. Spans carry no PHI, but they do name
	// tenants and connections. Default false.
	Insecure bool `json:"insecure,omitempty"`
	// SampleRatio is the share of requests without a sampled parent that
	// are traced, 0 to 1. A client's sampled traceparent is always
	// honoured. Default 0.1.
	SampleRatio *float64 `json:"sample_ratio,omitempty"`
}

// The tracing protocols.
const (
	TracingHTTP = "http"
	TracingGRPC = "grpc"

	DefaultTraceSampleRatio = 0.1
)

func (t *Tracing) applyDefaults() {
	if t.Protocol == "" {
		t.Protocol = TracingHTTP
	}
	if t.SampleRatio == nil {
		r := DefaultTraceSampleRatio
		t.SampleRatio = &r
	}
}

func (v *validator) tracing(t *Tracing, devMode bool) {
	const at = "$.node.tracing"
	if t.Protocol != TracingHTTP && t.Protocol != TracingGRPC {
		v.add(at+".protocol", `want "http" or "grpc"`)
	}
	if r := *t.SampleRatio; r < 0 || r > 1 {
		v.add(at+".sample_ratio", "must be between 0 and 1")
	}
	u, err := url.Parse(t.Endpoint)
	switch {
	case t.Endpoint == "":
		v.add(at+".endpoint", "required: the OTLP receiver's URL")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		v.add(at+".endpoint", "want http(s)://host:port, without path, query or credentials")
	case u.Scheme == "http" && !devMode && !t.Insecure && !isLoopbackAddr(net.JoinHostPort(u.Hostname(), "0")):
		v.add(at+".endpoint", "http only to loopback: use https, or set insecure")
	}
}
