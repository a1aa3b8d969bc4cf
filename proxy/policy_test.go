//go:build unix

package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Minimum-necessary policies and purpose of use, for API keys and tokens
// alike. Run alone: go test ./proxy -run 'Policy|Purpose'

const (
	keyBilling = "key-billing"
	keyClinic  = "key-clinic"
)

func startPolicies(t *testing.T) *env {
	return start(t, func(c map[string]any) {
		c["clients"] = append(c["clients"].([]any),
			map[string]any{"id": "billing", "tenant": "demo", "api_key_sha256": sha(keyBilling), "connections": []string{"demo"},
				"scopes": []string{"read", "passthrough"},
				"policy": map[string]any{"resources": []string{"patients", "coverages"}, "operations": []string{"read", "search"},
					"fields": map[string]any{"patients": map[string]any{"deny": []string{"identifiers", "telecom", "addresses"}}}}},
			map[string]any{"id": "clinic", "tenant": "demo", "api_key_sha256": sha(keyClinic), "connections": []string{"demo"},
				"policy": map[string]any{"purpose_of_use": map[string]any{"required": true, "allowed": []string{"TREAT"}, "break_glass": true}}},
		)
	})
}

func TestPolicyMinimumNecessary(t *testing.T) {
	e := startPolicies(t)
	pid := e.sb.RecordPatientIDs()[0]
	r := e.do(t, "GET", "/v1/demo/patients/"+pid, keyBilling, nil)
	if r.status != 200 {
		t.Fatalf("billing reads a patient: %d %s", r.status, r.body)
	}
	var rec map[string]any
	_ = json.Unmarshal(r.body, &rec)
	for _, denied := range []string{"identifiers", "telecom", "addresses"} {
		if _, ok := rec[denied]; ok {
			t.Fatalf("denied field %s reached the billing client", denied)
		}
	}
	if rec["id"] != pid || rec["names"] == nil {
		t.Fatalf("allowed fields lost: %s", r.body)
	}
	// fields= narrows further, never widens.
	r = e.do(t, "GET", "/v1/demo/patients/"+pid+"?fields=names,identifiers", keyBilling, nil)
	if strings.Contains(string(r.body), "identifiers") || !strings.Contains(string(r.body), "names") {
		t.Fatalf("fields= widened the policy: %s", r.body)
	}
	for name, path := range map[string]string{
		"a resource outside the policy": "/v1/demo/observations?patient_id=" + pid,
		"raw under a field policy":      "/v1/demo/patients/" + pid + "?raw=true",
		"passthrough under a policy":    "/v1/demo/passthrough/Patient",
	} {
		if r := e.do(t, "GET", path, keyBilling, nil); r.status != 403 || !strings.Contains(string(r.body), "insufficient_scope") {
			t.Fatalf("%s: %d %s", name, r.status, r.body)
		}
	}
	// The unrestricted client still sees everything.
	if r := e.do(t, "GET", "/v1/demo/patients/"+pid, keyDemo, nil); !strings.Contains(string(r.body), "identifiers") {
		t.Fatalf("a client without a policy lost fields: %s", r.body)
	}
	n := 0
	for _, ev := range e.audit.events(t) {
		if ev["authz_refusal"] == "policy" && ev["actor"] == "billing" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d policy refusals audited, want 3", n)
	}
}

func TestPurposeOfUseAndBreakGlass(t *testing.T) {
	e := startPolicies(t)
	pid := e.sb.RecordPatientIDs()[0]
	path := "/v1/demo/patients/" + pid
	for _, tc := range []struct {
		key, purpose string
		status       int
	}{
		{keyClinic, "", 403},       // required
		{keyClinic, "HPAYMT", 403}, // not allowed
		{keyClinic, "NOPE", 403},   // not a PurposeOfUse code
		{keyClinic, "TREAT", 200},
		{keyClinic, "BTG", 200}, // allowed break-glass
		{keyDemo, "BTG", 403},   // not allowed break-glass
		{keyDemo, "TREAT", 200}, // no policy: recorded, not required
	} {
		var hdr []string
		if tc.purpose != "" {
			hdr = []string{"X-Purpose-Of-Use", tc.purpose}
		}
		if r := e.do(t, "GET", path, tc.key, nil, hdr...); r.status != tc.status {
			t.Fatalf("%s with %q: %d %s, want %d", tc.key, tc.purpose, r.status, r.body, tc.status)
		}
	}
	ev := e.audit.events(t)
	btg, refusedBTG := ev[4], ev[5]
	if btg["break_glass"] != true || btg["security_alert"] != true || btg["purpose_of_use"] != "BTG" || btg["status"] != 200.0 {
		t.Fatalf("break-glass event: %v", btg)
	}
	if refusedBTG["break_glass"] != nil || refusedBTG["security_alert"] != true || refusedBTG["authz_refusal"] != "purpose_of_use" {
		t.Fatalf("refused break-glass event: %v", refusedBTG)
	}
	for _, routine := range []map[string]any{ev[3], ev[6]} {
		if routine["security_alert"] != nil || routine["purpose_of_use"] != "TREAT" {
			t.Fatalf("routine event flagged: %v", routine)
		}
	}
	if mf := scrapeMetrics(t, e.srv)["ferry_break_glass_total"]; mf == nil || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("ferry_break_glass_total: %v", mf)
	}
	if n := metricLabels(t, e.srv, "ferry_authorization_refusals_total", "client", "clinic", "reason", "purpose_of_use"); n != 3 {
		t.Errorf("purpose_of_use refusals of clinic = %v, want 3", n)
	}
}

func TestPurposeOfUseFromToken(t *testing.T) {
	op := startOIDC(t)
	ti := startTestIssuer(t)
	e := startWithIssuers(t, op, ti, nil)
	tok := ti.sign(t, map[string]any{"purpose_of_use": "BTG"}, jose.RS256, ti.key, "test-1")
	if r := e.do(t, "GET", "/v1/other/patients?limit=1", tok, nil); r.status != 403 {
		t.Fatalf("break-glass claim of a client not allowed it: %d %s", r.status, r.body)
	}
	tok = ti.sign(t, map[string]any{"purpose_of_use": "TREAT", "sub": "someone-else"}, jose.RS256, ti.key, "test-1")
	if r := e.do(t, "GET", "/v1/other/patients?limit=1", tok, nil, "X-Purpose-Of-Use", "BTG"); r.status != 200 {
		t.Fatalf("the token's claim wins over the header: %d %s", r.status, r.body)
	}
	ev := e.audit.events(t)
	last := ev[len(ev)-1]
	if last["purpose_of_use"] != "TREAT" || last["token_issuer"] != ti.url || last["scopes"] != "system/*.rs" ||
		!strings.HasPrefix(last["token_subject"].(string), "hmac-sha256:") {
		t.Fatalf("token identity in the audit event: %v", last)
	}
}
