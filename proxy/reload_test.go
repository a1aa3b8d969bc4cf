package proxy

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/proxy/config"
)

// TestReloadCarriesOver: a reload swaps the tables while requests run;
// what did not change keeps its entry (and so its guard, source, audit
// key, rate limit), what changed is rebuilt, what was removed is gone,
// and no request to what stayed fails.
func TestReloadCarriesOver(t *testing.T) {
	e := start(t, nil)
	old := e.srv.tab.Load()
	next := func(mutate func(map[string]any)) *config.Config {
		cfg, probs := config.Parse(testConfig(e.srv.cfg.Connections[0].BaseURL, mutate), "")
		if len(probs) > 0 {
			t.Fatalf("config: %v", probs)
		}
		return cfg
	}
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := e.do(t, "GET", "/v1/demo/patients?limit=1", keyDemo, nil); r.status != 200 {
					failed.Add(1)
				}
			}
		})
	}
	// demo2 gets a longer timeout; tenant "other" and its client and
	// connection go.
	cfg := next(func(c map[string]any) {
		connCfg(c, 1)["timeout"] = "7s"
		c["tenants"] = c["tenants"].([]any)[:1]
		c["clients"] = c["clients"].([]any)[:2]
		c["connections"] = c["connections"].([]any)[:2]
	})
	res, err := e.srv.Reload(t.Context(), ReloadOptions{Config: cfg, ConfigHash: "cfg-hash-2", TenantSecrets: nil})
	if err == nil {
		t.Fatal("a reload without the tenants' providers was accepted")
	}
	providers, err := NewTenantSecrets(cfg, SecretsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err = e.srv.Reload(t.Context(), ReloadOptions{Config: cfg, ConfigHash: "cfg-hash-2", TenantSecrets: providers}); err != nil {
		t.Fatal(err)
	}
	<-res.Drained()
	close(stop)
	wg.Wait()
	cur := e.srv.tab.Load()
	if res.Generation != 2 || cur.generation != 2 || len(res.Removed) != 1 || res.Removed[0] != "other" {
		t.Fatalf("result %+v", res)
	}
	if cur.tenants["demo"] != old.tenants["demo"] || cur.connections["demo"] != old.connections["demo"] {
		t.Fatal("the unchanged tenant or connection was rebuilt")
	}
	if cur.connections["demo2"] == old.connections["demo2"] || cur.connections["other"] != nil {
		t.Fatal("the changed connection was kept, or the removed one is still there")
	}
	if !old.tenants["other"].removed.Load() {
		t.Fatal("the removed tenant's entry was not told")
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests to the unchanged connection failed across the reload", n)
	}
	if r := e.do(t, "GET", "/v1/other/patients?limit=1", keyOther, nil); r.status != 401 {
		t.Fatalf("the removed tenant's client: %d", r.status)
	}
	evs := e.audit.events(t)
	if h := evs[len(evs)-1]["config_hash"]; h != "cfg-hash-2" {
		t.Fatalf("config_hash after the reload: %v", h)
	}
}

// TestReloadedMetrics: ferry_config_generation follows the reloads.
func TestReloadedMetrics(t *testing.T) {
	e := start(t, nil)
	cfg, _ := config.Parse(testConfig(e.srv.cfg.Connections[0].BaseURL, nil), "")
	providers, _ := NewTenantSecrets(cfg, SecretsOptions{})
	if _, err := e.srv.Reload(t.Context(), ReloadOptions{Config: cfg, ConfigHash: "h", TenantSecrets: providers}); err != nil {
		t.Fatal(err)
	}
	e.srv.CountReload(true)
	e.srv.CountReload(false)
	var rc fasthttp.RequestCtx
	e.srv.serveMetrics(&rc)
	m := string(rc.Response.Body())
	for _, want := range []string{"ferry_config_generation 2", `ferry_config_reloads_total{outcome="success"} 1`, `ferry_config_reloads_total{outcome="failure"} 1`} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}
