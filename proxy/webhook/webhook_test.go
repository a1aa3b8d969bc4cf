package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/secrets"
)

// TestSignatureVector checks the signature against the Standard Webhooks
// specification's own example (its libraries' test vector).
func TestSignatureVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := string(AppendSignature(nil, [][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`)))
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("signature %s", got)
	}
	two := string(AppendSignature(nil, [][]byte{key, key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`)))
	if two != got+" "+got {
		t.Fatalf("two signatures: %s", two)
	}
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ=", "whsec_!!!"} {
		if _, err := ParseSecret(s); err == nil || (len(s) > 8 && strings.Contains(err.Error(), s)) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func endpoint(t *testing.T, url string, allowPrivate bool) *Endpoint {
	t.Helper()
	cfg := &config.Config{DevMode: true, Tenants: []config.Tenant{{ID: "t"}},
		Clients: []config.Client{{ID: "c", Tenant: "t", Connections: []string{"adt"}, Webhooks: []config.Webhook{{
			ID: "w", URL: url, SecretRefs: []string{"literal:whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, AllowPrivateNetwork: allowPrivate,
			BreakerFailures: 2, BreakerOpenFor: config.Duration(time.Minute)}}}}}
	cfg.ApplyEventDefaults()
	d, err := New(cfg, map[string]secrets.Provider{"t": secrets.Env{}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	eps := d.Matching("t", "adt", "encounter.started")
	if len(eps) != 1 || len(d.Matching("t", "other", "encounter.started")) != 0 {
		t.Fatal("matching")
	}
	return eps[0]
}

func TestEgressAndRedirects(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Loopback is refused at connect time unless allowed.
	if r := endpoint(t, srv.URL, false).Deliver(ctx, "msg_1", []byte("{}")); r.Outcome != OutcomeUnreachable || hits.Load() != 0 {
		t.Fatalf("private address: %+v, %d hits", r, hits.Load())
	}
	// A redirect is an answer, not followed, and not a delivery.
	ep := endpoint(t, srv.URL, true)
	if r := ep.Deliver(ctx, "msg_1", []byte("{}")); r.Outcome != OutcomeRejected || r.Status != 302 || hits.Load() != 1 {
		t.Fatalf("redirect: %+v, %d hits", r, hits.Load())
	}
	_ = ep.Deliver(ctx, "msg_1", []byte("{}"))
	if r := ep.Deliver(ctx, "msg_1", []byte("{}")); r.Outcome != OutcomeBreakerOpen || hits.Load() != 2 {
		t.Fatalf("breaker: %+v, %d hits", r, hits.Load())
	}
}
