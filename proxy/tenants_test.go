package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestDegradedTenant: a tenant whose audit key cannot be read does not fail
// the start; its requests get 503 credentials_unavailable while the other
// tenants serve, ferry_tenant_ready says which is which, and once the key
// can be read the tenant serves, within the tenant_retry backoff.
func TestDegradedTenant(t *testing.T) {
	const env = "FERRY_TEST_DEGRADED_AUDIT_KEY"
	e := start(t, func(c map[string]any) {
		c["node"].(map[string]any)["tenant_retry"] = map[string]any{"min": "10ms", "max": "50ms"}
		c["tenants"].([]any)[1].(map[string]any)["audit"] = map[string]any{"key_ref": "env:" + env}
	})
	if r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil); r.status != 200 {
		t.Fatalf("the healthy tenant: %d %s", r.status, r.body)
	}
	r := e.do(t, "GET", "/v1/other/patients?limit=1", keyOther, nil)
	if r.status != 503 || !strings.Contains(string(r.body), "credentials_unavailable") {
		t.Fatalf("the degraded tenant: %d %s", r.status, r.body)
	}
	metrics := func() string {
		var rc fasthttp.RequestCtx
		e.srv.serveMetrics(&rc)
		return string(rc.Response.Body())
	}
	if m := metrics(); !strings.Contains(m, `ferry_tenant_ready{tenant="demo"} 1`) || !strings.Contains(m, `ferry_tenant_ready{tenant="other"} 0`) {
		t.Fatalf("ferry_tenant_ready:\n%s", m)
	}
	t.Setenv(env, "audit-key-now-readable-0123456789abcdef")
	deadline := time.Now().Add(2 * time.Second)
	for {
		if r := e.do(t, "GET", "/v1/other/patients?limit=1", keyOther, nil); r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the tenant did not recover once its key could be read")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := metrics(); !strings.Contains(m, `ferry_tenant_ready{tenant="other"} 1`) {
		t.Fatalf("recovered but not ready:\n%s", m)
	}
}
