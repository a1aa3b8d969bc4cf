package proxy

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// withSandboxes is the gateway's connectors plus a plugin host's sandbox
// report.
type withSandboxes struct {
	Connectors
	sbs []PluginSandbox
}

func (w withSandboxes) PluginSandboxes() []PluginSandbox { return w.sbs }

// TestSandboxInReadyzAndMetrics: /readyz says each plugin's sandbox, and
// ferry_plugin_sandbox labels it, parsed as the text format.
func TestSandboxInReadyzAndMetrics(t *testing.T) {
	src := newFaultSource(t)
	src.set("ok")
	e := startGateway(t, inProcessConfig(src, nil), nil)
	e.srv.conns = withSandboxes{e.srv.conns, []PluginSandbox{
		{Kind: "fhir", Level: "full", LandlockABI: 7, Seccomp: true, Detail: "landlock v7 (files: its binary and socket directory only)"},
		{Kind: "legacy", Level: "none", Detail: `sandbox "off" in the plugin catalog`},
		{Kind: "weak", Level: "refused", Detail: "plugin sandbox unavailable: missing seccomp"},
	}}
	var rc fasthttp.RequestCtx
	rc.Request.SetRequestURI("/readyz")
	e.srv.serveAdmin(&rc)
	body := string(rc.Response.Body())
	for _, want := range []string{"ready\n", "plugin fhir sandbox: full: landlock v7", "plugin legacy sandbox: none", "plugin weak sandbox: refused: "} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz lacks %q:\n%s", want, body)
		}
	}
	mfs := scrapeMetrics(t, e.srv)
	got := map[string]string{}
	for _, m := range mfs["ferry_plugin_sandbox"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		got[labels["plugin"]] = labels["level"] + " " + labels["landlock_abi"] + " " + labels["seccomp"]
		if m.GetGauge().GetValue() != 1 {
			t.Errorf("%v: value %v", labels, m.GetGauge().GetValue())
		}
	}
	want := map[string]string{"fhir": "full 7 true", "legacy": "none 0 false", "weak": "refused 0 false"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ferry_plugin_sandbox{plugin=%q}: %q, want %q", k, got[k], v)
		}
	}
}
