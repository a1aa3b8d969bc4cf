package harness

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
)

// The target kinds.
const (
	KindDirect    = "direct"    // the fixture itself
	KindNginx     = "nginx"     // Debian's nginx, keep-alive pass-through
	KindFastProxy = "fastproxy" // a bare fasthttp reverse proxy: the Go floor
	KindFerry     = "ferry"     // bin/ferry serve with the FHIR plugin
	// KindInProcess is Ferry's whole pipeline with the FHIR connector linked
	// in (bench/cmd/ferry-inprocess) instead of a plugin: beside ferry, it
	// shows what the plugin hop itself costs.
	KindInProcess = "inprocess"
)

// api reports whether the target speaks Ferry's API (a key, /v1 paths,
// sealed cursors) rather than FHIR's.
func (t *Target) api() bool { return t.Kind == KindFerry || t.Kind == KindInProcess }

// CPU sets: the load generator on one CPU, the whole server side (fixture,
// proxies, plugins) on the other.
const (
	clientCPU = "0"
	serverCPU = "1"
)

// Target is one thing measured: where the load generator sends requests,
// and which processes are its server side.
type Target struct {
	Name string
	Kind string
	Addr string
	// Tenants is how many tenants (each with one client and one
	// connection) a Ferry target's config has.
	Tenants int
	// w5 marks the Ferry processes started for W5 alone.
	w5    bool
	proc  *proc
	admin string // ferry: the admin listener, for go_memstats_mallocs_total
	stats string // fastproxy: its allocation counter
	// scrape is what reading the allocation counter itself allocates.
	scrape uint64
}

// PIDs returns the target's server-side processes: the proxy and its
// plugins or workers; the fixture for direct.
func (t *Target) PIDs() []int { return processTree(t.proc.pid()) }

// Allocs returns the heap objects the target's Go process has allocated so
// far, when it can be read from outside (Ferry's /metrics, the fastproxy's
// counter); false for nginx and the fixture. Ferry's figure is the host's
// alone: a plugin exposes no counter.
func (t *Target) Allocs() (uint64, bool) {
	switch {
	case t.admin != "":
		f, ok := t.metric("go_memstats_mallocs_total")
		return uint64(f), ok
	case t.stats != "":
		resp, err := http.Get("http://" + t.stats + "/")
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		n, err := strconv.ParseUint(string(b), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Goroutines returns how many goroutines Ferry's host process runs now
// (from its /metrics); false for other targets.
func (t *Target) Goroutines() (int, bool) {
	f, ok := t.metric("go_goroutines")
	return int(f), ok
}

// metric reads one sample without labels from Ferry's admin /metrics.
func (t *Target) metric(name string) (float64, bool) {
	if t.admin == "" {
		return 0, false
	}
	resp, err := http.Get("http://" + t.admin + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// calibrate measures what a reading of the allocation counter costs, to
// subtract it.
func (t *Target) calibrate() {
	a, ok := t.Allocs()
	if !ok {
		return
	}
	b, _ := t.Allocs()
	c, _ := t.Allocs()
	t.scrape = min(b-a, c-b)
}

// startFixture runs the upstream fixture as its own server-side process.
func (e *env) startFixture(o FixtureOptions) (*Target, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := []string{e.self, "fixture", "-listen", addr, "-latency", o.Latency.String(), "-jitter", o.Jitter.String(),
		"-error-every", strconv.Itoa(o.ErrorEvery)}
	p, err := e.start("fixture", argv, nil)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+addr+FHIRPrefix+"/Patient/ready", 200, 30*time.Second, p); err != nil {
		return nil, err
	}
	e.fixture = addr
	return &Target{Name: KindDirect, Kind: KindDirect, Addr: addr, proc: p}, nil
}

func (e *env) startFastProxy() (*Target, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	stats, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := e.start("fastproxy", []string{e.self, "fastproxy", "-listen", addr, "-stats", stats, "-upstream", e.fixture}, nil)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+addr+FHIRPrefix+"/Patient/ready", 200, 30*time.Second, p); err != nil {
		return nil, err
	}
	t := &Target{Name: KindFastProxy, Kind: KindFastProxy, Addr: addr, proc: p, stats: stats}
	t.calibrate()
	return t, nil
}

// nginxConf is a keep-alive pass-through: one worker (one CPU), upstream
// connections kept alive, no access log, responses buffered in memory and
// never spooled to disk.
const nginxConf = `worker_processes 1;
daemon off;
pid {{dir}}/nginx.pid;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  error_log {{dir}}/nginx-error.log warn;
  client_body_temp_path {{dir}}/body;
  proxy_temp_path {{dir}}/proxy;
  fastcgi_temp_path {{dir}}/fastcgi;
  uwsgi_temp_path {{dir}}/uwsgi;
  scgi_temp_path {{dir}}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream fixture {
    server {{upstream}};
    keepalive 1024;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen {{listen}} backlog=4096;
    location / {
      proxy_pass http://fixture;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffer_size 16k;
      proxy_buffers 64 16k;
      proxy_busy_buffers_size 64k;
      proxy_max_temp_file_size 0;
    }
  }
}
`

// NginxPath finds Debian's nginx.
func NginxPath() (string, error) {
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return "", errors.New("nginx is not installed: apt-get install nginx (make debian-peers installs it)")
}

func (e *env) startNginx() (*Target, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{upstream}}", e.fixture, "{{listen}}", addr).Replace(nginxConf)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := e.start("nginx", []string{e.nginx, "-p", dir, "-c", path, "-e", filepath.Join(dir, "nginx-error.log")}, nil)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+addr+FHIRPrefix+"/Patient/ready", 200, 30*time.Second, p); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "nginx-error.log"))
		return nil, fmt.Errorf("%w\n%s", err, b)
	}
	return &Target{Name: KindNginx, Kind: KindNginx, Addr: addr, proc: p}, nil
}

// The keys and ids of the generated Ferry configs: tenant i has client
// "app-i" with key APIKey(i), and connection ConnID(i).
func APIKey(i int) string { return "bench-key-" + strconv.Itoa(i) }

// ConnID is the id of tenant i's connection.
func ConnID(i int) string { return "c" + strconv.Itoa(i) }

// FerryConfig is a dev_mode config, like cmd/ferry's demo and end-to-end
// tests write, with n tenants each owning one client and one connection to
// the fixture. Each tenant's audit trail is keyed and signed, and goes to
// stdout (the harness sends it to /dev/null). The bulkhead is opened wide
// (max_concurrent 10000) so that the capacity probes measure work, not the
// default limit of 32 requests in flight per connection.
func FerryConfig(listen, admin, plugin, pluginSHA256, sourceURL string, n int) []byte {
	tenants := make([]any, 0, n)
	clients := make([]any, 0, n)
	conns := make([]any, 0, n)
	for i := range n {
		tid := "t" + strconv.Itoa(i)
		key := sha256.Sum256([]byte(APIKey(i)))
		seed := sha256.Sum256([]byte("bench-signing-key-" + tid))
		tenants = append(tenants, map[string]any{
			"id": tid, "secrets": map[string]any{"provider": "env"},
			"audit": map[string]any{
				"key_ref":         "literal:bench-audit-key-0123456789abcdef-" + tid,
				"signing_key_ref": "literal:" + hex.EncodeToString(seed[:]),
			},
		})
		clients = append(clients, map[string]any{
			"id": "app-" + strconv.Itoa(i), "tenant": tid, "api_key_sha256": hex.EncodeToString(key[:]),
			"connections": []string{ConnID(i)}, "scopes": []string{config.ScopeRead},
		})
		conns = append(conns, map[string]any{
			"id": ConnID(i), "tenant": tid, "connector": "fhir", "base_url": sourceURL,
			"auth": map[string]any{"kind": "none"}, "timeout": "30s",
			"allow_insecure_http": true, "allow_private_network": true,
			"limits": map[string]any{"max_concurrent": config.MaxMaxConcurrent},
		})
	}
	cfg := map[string]any{
		"dev_mode":    true,
		"node":        map[string]any{"listen": listen, "admin_listen": admin, "region": "local"},
		"plugins":     []any{map[string]any{"kind": "fhir", "path": plugin, "sha256": pluginSHA256}},
		"tenants":     tenants,
		"clients":     clients,
		"connections": conns,
	}
	b, _ := json.Marshal(cfg)
	return b
}

// withoutSandbox sets every plugin of a generated config to sandbox "off".
func withoutSandbox(doc []byte) []byte {
	var cfg map[string]any
	if json.Unmarshal(doc, &cfg) != nil {
		return doc
	}
	if ps, ok := cfg["plugins"].([]any); ok {
		for _, p := range ps {
			if m, ok := p.(map[string]any); ok {
				m["sandbox"] = "off"
			}
		}
	}
	out, _ := json.Marshal(cfg)
	return out
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// startFerry runs bin/ferry serve with a generated config of n tenants.
func (e *env) startFerry(name string, n int) (*Target, error) {
	return e.startGateway(name, KindFerry, []string{e.ferry, "serve"}, n)
}

// startInProcess runs the same config through ferry-inprocess.
func (e *env) startInProcess(name string, n int) (*Target, error) {
	return e.startGateway(name, KindInProcess, []string{e.inproc}, n)
}

// startGateway runs argv --config with a generated config of n tenants.
func (e *env) startGateway(name, kind string, argv []string, n int) (*Target, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	sum, err := fileSHA256(e.plugin)
	if err != nil {
		return nil, err
	}
	doc := FerryConfig(listen, admin, e.plugin, sum, "http://"+e.fixture+FHIRPrefix, n)
	if e.sandboxOff {
		doc = withoutSandbox(doc)
	}
	if _, probs := config.Parse(doc, ""); len(probs) > 0 {
		return nil, fmt.Errorf("%s: generated config: %v", name, probs)
	}
	path := filepath.Join(e.dir, name+".json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		return nil, err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	p, err := e.start(name, append(argv, "--config", path), devnull)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+admin+"/readyz", 200, 120*time.Second, p); err != nil {
		return nil, err
	}
	t := &Target{Name: name, Kind: kind, Addr: listen, Tenants: n, proc: p, admin: admin}
	// A first read checks the whole path before any measurement.
	resp, err := doGet(listen, "/v1/"+ConnID(0)+"/patients/ready", APIKey(0))
	if err != nil || resp != 200 {
		return nil, fmt.Errorf("%s: first read: status %d, %v\n%s", name, resp, err, tail(p))
	}
	t.calibrate()
	return t, nil
}

func doGet(addr, path, key string) (int, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// repoRoot finds the module root above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/ferryhealth/ferry\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the ferry repository (no go.mod of github.com/ferryhealth/ferry above)")
		}
		dir = parent
	}
}

// Binaries returns bin/ferry and bin/ferry-connector-fhir from binDir, or
// builds them into the scratch folder when binDir is empty.
func Binaries(binDir, scratch string, log io.Writer) (ferry, plugin string, err error) {
	if binDir != "" {
		// Absolute: the generated configs live in the scratch folder, and
		// a relative plugin path in a config is relative to the config.
		if binDir, err = filepath.Abs(binDir); err != nil {
			return "", "", err
		}
		ferry, plugin = filepath.Join(binDir, "ferry"), filepath.Join(binDir, "ferry-connector-fhir")
		for _, p := range []string{ferry, plugin} {
			if _, err := os.Stat(p); err != nil {
				return "", "", fmt.Errorf("%w (run make build, or leave -bin empty to build here)", err)
			}
		}
		return ferry, plugin, nil
	}
	if ferry, err = build(scratch, "ferry", "./cmd/ferry", log); err != nil {
		return "", "", err
	}
	plugin, err = build(scratch, "ferry-connector-fhir", "./cmd/ferry-connector-fhir", log)
	return ferry, plugin, err
}

// InProcessBinary builds bench/cmd/ferry-inprocess into the scratch folder
// (make build does not build it: it is not shipped).
func InProcessBinary(scratch string, log io.Writer) (string, error) {
	return build(scratch, "ferry-inprocess", "./bench/cmd/ferry-inprocess", log)
}

// build compiles the main package pkg of the repository into scratch/bin.
func build(scratch, name, pkg string, log io.Writer) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(scratch, "bin", name)
	fmt.Fprintf(log, "go build -o %s %s\n", path, pkg)
	cmd := exec.Command("go", "build", "-trimpath", "-o", path, pkg)
	cmd.Dir = root
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, o)
	}
	return path, nil
}
