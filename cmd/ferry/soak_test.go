//go:build soak && unix

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// The soak (make soak; not part of make test): the real ferry and FHIR
// plugin against Medplum for -soak.duration (30 minutes by default), in an
// open loop at half of the capacity measured at its start, with a mix of
// reads, searches, next pages (cursors) and passthrough. Faults come on
// their own connections: a source that is down (a closed port), a source
// that answers 300 ms late (a delaying relay in front of Medplum), and
// the plugin SIGKILLed every 90 s. Every minute the config file changes
// (a tenant added or removed) and ferry gets SIGHUP. Every 5 s it samples
// ferry's and the plugin's RSS and open descriptors, and ferry's
// goroutines; after a warm-up it fits a line to each series and fails
// when the growth over the run is beyond the noise (three residual
// standard deviations) and beyond a tolerance, printing every slope.
//
//	make soak SOAK_DURATION=5m
var soakDuration = flag.Duration("soak.duration", 30*time.Minute, "how long the soak runs")

func TestSoak(t *testing.T) {
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	slow := startDelayRelay(t, peer.BaseURL, 300*time.Millisecond)
	listen, admin := freePort(t), freePort(t)
	plugin := filepath.Join(binaries(t), "ferry-connector-fhir")
	sum, err := fileSHA256(plugin)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "ferry.json")
	writeSoakConfig(t, cfgPath, listen, admin, plugin, sum, peer.BaseURL, slow, false)
	f := startFerry(t, "serve", "--config", cfgPath)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	pid := f.cmd.Process.Pid
	base := "http://" + listen + "/v1/"
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	var cursors cursorPool
	ids := peer.PatientIDs
	request := func(r *rand.Rand) string {
		conn := "good"
		switch p := r.IntN(100); {
		case p < 5:
			conn = "down"
		case p < 12:
			conn = "slow"
		}
		switch p := r.IntN(100); {
		case p < 40:
			return base + conn + "/patients/" + ids[r.IntN(len(ids))]
		case p < 70:
			return base + conn + "/patients?limit=2"
		case p < 85:
			if c := cursors.take(); c != "" {
				return base + "good/patients?limit=2&cursor=" + url.QueryEscape(c)
			}
			return base + "good/patients?limit=2"
		default:
			return base + conn + "/passthrough/Patient/" + ids[r.IntN(len(ids))]
		}
	}
	var statuses sync.Map // status -> *atomic.Int64
	count := func(s int) {
		v, _ := statuses.LoadOrStore(s, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	do := func(r *rand.Rand) {
		u := request(r)
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer soak-key")
		resp, err := hc.Do(req)
		if err != nil {
			count(0)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		count(resp.StatusCode)
		if resp.StatusCode == 200 && strings.Contains(u, "/good/patients?") {
			var page struct {
				NextCursor string `json:"next_cursor"`
			}
			if json.Unmarshal(b, &page) == nil && page.NextCursor != "" {
				cursors.put(page.NextCursor)
			}
		}
	}

	// Capacity: a closed loop of 16 workers on the mix for 5 s.
	var done atomic.Int64
	stopCap := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(stopCap) {
				do(r)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	capacity := float64(done.Load()) / 5
	rate := max(capacity/2, 1)
	t.Logf("capacity %.0f req/s on the mix; the soak runs at %.0f req/s for %v", capacity, rate, *soakDuration)

	// The open loop: requests start on schedule, whatever the answers do.
	stop := make(chan struct{})
	var inflight sync.WaitGroup
	go func() {
		r := rand.New(rand.NewPCG(7, 7))
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				seed := r.Uint64()
				inflight.Go(func() { do(rand.New(rand.NewPCG(seed, 3))) })
			}
		}
	}()

	var samples []soakSample
	start := time.Now()
	end := start.Add(*soakDuration)
	nextReload, nextKill, extra := start.Add(time.Minute), start.Add(90*time.Second), false
	reloads, kills := 0, 0
	for now := time.Now(); now.Before(end); now = time.Now() {
		if f.cmd.ProcessState != nil || !alive(pid) {
			t.Fatalf("ferry exited during the soak:\n%s", f.stderr.String())
		}
		s := sample(t, pid, admin)
		s.at = now.Sub(start)
		samples = append(samples, s)
		if now.After(nextReload) {
			extra = !extra
			writeSoakConfig(t, cfgPath, listen, admin, plugin, sum, peer.BaseURL, slow, extra)
			_ = syscall.Kill(pid, syscall.SIGHUP)
			reloads++
			nextReload = nextReload.Add(time.Minute)
		}
		if now.After(nextKill) {
			for _, c := range childPIDs(t, pid) {
				_ = syscall.Kill(c, syscall.SIGKILL)
			}
			kills++
			nextKill = nextKill.Add(90 * time.Second)
		}
		time.Sleep(5 * time.Second)
	}
	close(stop)
	inflight.Wait()
	hc.CloseIdleConnections()

	var outcome []string
	total := int64(0)
	statuses.Range(func(k, v any) bool {
		n := v.(*atomic.Int64).Load()
		total += n
		outcome = append(outcome, fmt.Sprintf("%d: %d", k.(int), n))
		return true
	})
	m := scrape(t, admin)
	t.Logf("%d requests in %v (%s); %d reloads, %d plugin kills; %s", total, time.Since(start).Round(time.Second),
		strings.Join(outcome, ", "), reloads, kills, grepLines(m, "ferry_config_reloads_total{"))
	if !strings.Contains(m, fmt.Sprintf("ferry_config_generation %d", reloads+1)) {
		t.Errorf("ferry_config_generation is not %d after %d reloads:\n%s", reloads+1, reloads, grepLines(m, "ferry_config"))
	}

	// Growth: after a warm-up of a fifth of the run (at least one sample
	// in three), each series' line.
	from := len(samples) / 5
	if len(samples)-from < 6 {
		t.Fatalf("only %d samples: run the soak longer", len(samples))
	}
	series := []struct {
		name      string
		get       func(soakSample) float64
		tolerance func(mean float64) float64
	}{
		{"ferry RSS (MiB)", func(s soakSample) float64 { return s.rss / 1024 }, func(m float64) float64 { return 0.10 * m }},
		{"ferry goroutines", func(s soakSample) float64 { return s.goroutines }, func(m float64) float64 { return 0.10*m + 5 }},
		{"ferry open fds", func(s soakSample) float64 { return s.fds }, func(m float64) float64 { return 0.10*m + 3 }},
		{"plugin RSS (MiB)", func(s soakSample) float64 { return s.pluginRSS / 1024 }, func(m float64) float64 { return 0.25 * m }},
		{"plugin open fds", func(s soakSample) float64 { return s.pluginFDs }, func(m float64) float64 { return 0.10*m + 3 }},
	}
	span := (samples[len(samples)-1].at - samples[from].at).Hours()
	for _, sr := range series {
		xs, ys := make([]float64, 0, len(samples)), make([]float64, 0, len(samples))
		for _, s := range samples[from:] {
			xs, ys = append(xs, s.at.Hours()), append(ys, sr.get(s))
		}
		slope, mean, noise := fitLine(xs, ys)
		growth := slope * span
		limit := max(3*noise, sr.tolerance(mean))
		t.Logf("%-18s mean %8.1f  slope %+9.2f/h  growth over the run %+8.2f  (limit %.2f: max of 3σ residual %.2f and tolerance %.2f)",
			sr.name, mean, slope, growth, limit, 3*noise, sr.tolerance(mean))
		if growth > limit {
			t.Errorf("%s grows: %+.2f over %.1f min (slope %+.2f/h), beyond the noise", sr.name, growth, span*60, slope)
		}
	}
}

type soakSample struct {
	at                               time.Duration
	rss, fds, goroutines             float64 // ferry; rss in KiB
	pluginRSS, pluginFDs, pluginProc float64
}

func sample(t *testing.T, pid int, admin string) soakSample {
	s := soakSample{rss: rssKiB(pid), fds: fdCount(pid)}
	for _, line := range strings.Split(scrape(t, admin), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			s.goroutines, _ = strconv.ParseFloat(v, 64)
		}
	}
	for _, c := range childPIDs(t, pid) {
		s.pluginRSS += rssKiB(c)
		s.pluginFDs += fdCount(c)
		s.pluginProc++
	}
	return s
}

func rssKiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return n
		}
	}
	return 0
}

func fdCount(pid int) float64 {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return float64(len(es))
}

// fitLine is the least-squares line through (xs, ys): its slope, the mean
// of ys and the standard deviation of the residuals.
func fitLine(xs, ys []float64) (slope, mean, noise float64) {
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx > 0 {
		slope = sxy / sxx
	}
	var ss float64
	for i := range xs {
		r := ys[i] - (my + slope*(xs[i]-mx))
		ss += r * r
	}
	return slope, my, math.Sqrt(ss / n)
}

// cursorPool keeps a few next-page cursors for the mix's cursor requests.
type cursorPool struct {
	mu sync.Mutex
	cs []string
}

func (p *cursorPool) put(c string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cs) < 64 {
		p.cs = append(p.cs, c)
	}
}

func (p *cursorPool) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cs) == 0 {
		return ""
	}
	c := p.cs[len(p.cs)-1]
	p.cs = p.cs[:len(p.cs)-1]
	return c
}

// startDelayRelay relays to target, each answer delay late: a slow source.
func startDelayRelay(t *testing.T, target string, delay time.Duration) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rp.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + u.Path
}

// writeSoakConfig writes the soak's config: one tenant whose client reaches
// a good, a slow and a down connection; with extra, a second tenant too
// (the reload every minute adds and removes it).
func writeSoakConfig(t *testing.T, path, listen, admin, plugin, sum, good, slow string, extra bool) {
	conn := func(id, tenant, base string) map[string]any {
		return map[string]any{"id": id, "tenant": tenant, "connector": "fhir", "base_url": base, "timeout": "5s",
			"auth": map[string]any{"kind": "none"}, "allow_insecure_http": true, "allow_private_network": true}
	}
	tenant := func(id string) map[string]any {
		return map[string]any{"id": id, "secrets": map[string]any{"provider": "env"},
			"audit": map[string]any{"key_ref": "literal:" + DemoAuditKey, "signing_key_ref": "literal:" + DemoSigningKey}}
	}
	client := func(id, tenant, key string, conns ...string) map[string]any {
		return map[string]any{"id": id, "tenant": tenant, "api_key_sha256": sha256Hex(key), "connections": conns,
			"scopes": []string{"read", "passthrough"}}
	}
	tenants := []any{tenant("soak")}
	clients := []any{client("soak", "soak", "soak-key", "good", "slow", "down")}
	conns := []any{conn("good", "soak", good), conn("slow", "soak", slow), conn("down", "soak", "http://127.0.0.1:1/fhir/R4")}
	if extra {
		tenants = append(tenants, tenant("extra"))
		clients = append(clients, client("extra", "extra", "extra-key", "extra"))
		conns = append(conns, conn("extra", "extra", good))
	}
	doc, _ := json.MarshalIndent(map[string]any{"dev_mode": true, "node": map[string]any{"listen": listen, "admin_listen": admin},
		"plugins": []any{map[string]any{"kind": "fhir", "path": plugin, "sha256": sum}},
		"tenants": tenants, "clients": clients, "connections": conns}, "", "  ")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}
