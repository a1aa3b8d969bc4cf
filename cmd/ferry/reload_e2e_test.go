//go:build unix

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// TestReloadUnderLoad: the real ferry and FHIR plugin against Medplum, in
// dev_mode, with a load generator on each of two tenants. SIGHUP swaps in:
//
//  1. a new tenant (gamma) with its client and connection, and a new
//     connection for the unchanged tenant (demo): both serve at once,
//     configured in the running plugin, which is not restarted;
//  2. an invalid file (an unknown field) and a file that changes
//     node.listen: both refused, each problem logged with its JSON path,
//     ferry_config_reloads_total{outcome="failure"} counts them, the old
//     configuration keeps serving;
//  3. a file without tenant beta, and the plugin's binary at a new path:
//     beta's client is gone (401), its chain ends with a final checkpoint;
//     the plugin is replaced (a new process, the old one stopped once its
//     calls ended).
//
// demo's load never fails; beta's fails only after its removal. demo's
// chain is one chain across the reloads (one chain_id, events under three
// config hashes, no gap), and `ferry audit verify` passes on the whole
// trail after SIGTERM.
//
// Alone: make build test-deps && FERRY_BIN=$PWD/bin go test -run TestReloadUnderLoad ./cmd/ferry/
func TestReloadUnderLoad(t *testing.T) {
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	listen, admin := freePort(t), freePort(t)
	plugin := filepath.Join(binaries(t), "ferry-connector-fhir")
	sum, err := fileSHA256(plugin)
	if err != nil {
		t.Fatal(err)
	}
	digest := func(key string) string { d := sha256.Sum256([]byte(key)); return hex.EncodeToString(d[:]) }
	tenant := func(id string) map[string]any {
		return map[string]any{"id": id, "secrets": map[string]any{"provider": "env"},
			"audit": map[string]any{"key_ref": "literal:" + DemoAuditKey, "signing_key_ref": "literal:" + DemoSigningKey}}
	}
	conn := func(id, tenant string) map[string]any {
		return map[string]any{"id": id, "tenant": tenant, "connector": "fhir", "base_url": peer.BaseURL,
			"auth": map[string]any{"kind": "none"}, "allow_insecure_http": true, "allow_private_network": true}
	}
	client := func(id, tenant string, conns ...string) map[string]any {
		return map[string]any{"id": id, "tenant": tenant, "api_key_sha256": digest(id + "-key"), "connections": conns}
	}
	pluginPath := plugin
	write := func(path string, tenants, clients, conns []any, extra map[string]any) {
		doc := map[string]any{"dev_mode": true, "node": map[string]any{"listen": listen, "admin_listen": admin},
			"plugins": []any{map[string]any{"kind": "fhir", "path": pluginPath, "sha256": sum}},
			"tenants": tenants, "clients": clients, "connections": conns}
		for k, v := range extra {
			doc[k] = v
		}
		b, _ := json.MarshalIndent(doc, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfgPath, v1 := filepath.Join(dir, "ferry.json"), filepath.Join(dir, "v1.json")
	write(v1, []any{tenant("demo"), tenant("beta")},
		[]any{client("demo", "demo", "demo"), client("beta", "beta", "beta")},
		[]any{conn("demo", "demo"), conn("beta", "beta")}, nil)
	copyFile(t, v1, cfgPath)
	f := startFerry(t, "serve", "--config", cfgPath)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	pid := f.cmd.Process.Pid
	plugins := childPIDs(t, pid)
	base := "http://" + listen + "/v1/"
	read := func(conn string) string { return base + conn + "/patients/" + peer.PatientIDs[0] }
	demoLoad := startLoad(t, read("demo"), "demo-key", 2)
	betaLoad := startLoad(t, read("beta"), "beta-key", 1)
	hup := func() {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	metricIs := func(sample string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if strings.Contains(scrape(t, admin), sample) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("metrics never showed %s:\n%s", sample, grepLines(scrape(t, admin), "ferry_config"))
	}
	metricIs("ferry_config_generation 1", time.Second)
	time.Sleep(500 * time.Millisecond)

	// 1. A tenant and connections added.
	write(cfgPath, []any{tenant("demo"), tenant("beta"), tenant("gamma")},
		[]any{client("demo", "demo", "demo", "demo2"), client("beta", "beta", "beta"), client("gamma", "gamma", "gamma")},
		[]any{conn("demo", "demo"), conn("beta", "beta"), conn("demo2", "demo"), conn("gamma", "gamma")}, nil)
	hup()
	metricIs("ferry_config_generation 2", 10*time.Second)
	for _, c := range []struct{ conn, key string }{{"gamma", "gamma-key"}, {"demo2", "demo-key"}} {
		if status, body := get(t, read(c.conn), c.key); status != 200 {
			t.Fatalf("%s after the reload: %d %s", c.conn, status, body)
		}
	}
	if got := childPIDs(t, pid); len(got) != len(plugins) || (len(got) > 0 && got[0] != plugins[0]) {
		t.Fatalf("the plugin was restarted by a reload that only added connections: %v, then %v", plugins, got)
	}
	time.Sleep(500 * time.Millisecond)

	// 2. Refused reloads: the running configuration keeps serving.
	good := mustRead(t, cfgPath)
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(good), `"dev_mode": true`, `"dev_mode": true, "surprise": 1`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	metricIs(`ferry_config_reloads_total{outcome="failure"} 1`, 10*time.Second)
	var moved map[string]any
	_ = json.Unmarshal(good, &moved)
	moved["node"].(map[string]any)["listen"] = freePort(t)
	b, _ := json.Marshal(moved)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	metricIs(`ferry_config_reloads_total{outcome="failure"} 2`, 10*time.Second)
	for _, want := range []string{`"path":"$.surprise"`, `"path":"$.node"`} {
		waitFor(t, func() bool { return strings.Contains(f.stderr.String(), want) }, 5*time.Second)
		if !strings.Contains(f.stderr.String(), want) {
			t.Fatalf("the refused reload's problem %s was not logged:\n%s", want, f.stderr.String())
		}
	}
	if status, _ := get(t, read("gamma"), "gamma-key"); status != 200 {
		t.Fatalf("gamma stopped serving after a refused reload: %d", status)
	}
	metricIs("ferry_config_generation 2", time.Second)

	// 3. beta removed, and the plugin's binary moved (a new path: the
	// plugin is replaced, its old process finishing its calls first).
	pluginPath = filepath.Join(dir, "ferry-connector-fhir-v2")
	copyFile(t, plugin, pluginPath)
	if err := os.Chmod(pluginPath, 0o755); err != nil {
		t.Fatal(err)
	}
	write(cfgPath, []any{tenant("demo"), tenant("gamma")},
		[]any{client("demo", "demo", "demo", "demo2"), client("gamma", "gamma", "gamma")},
		[]any{conn("demo", "demo"), conn("demo2", "demo"), conn("gamma", "gamma")}, nil)
	betaBefore := betaLoad.ok.Load()
	hup()
	metricIs("ferry_config_generation 3", 10*time.Second)
	waitFor(t, func() bool { return betaLoad.failed.Load() > 0 }, 5*time.Second)
	if status, _ := get(t, read("beta"), "beta-key"); status != 401 {
		t.Fatalf("beta's client after its removal: %d, want 401", status)
	}
	waitFor(t, func() bool {
		got := childPIDs(t, pid)
		return len(got) == 1 && got[0] != plugins[0]
	}, 15*time.Second)
	if got := childPIDs(t, pid); len(got) != 1 || got[0] == plugins[0] {
		t.Fatalf("the plugin was not replaced after its binary moved: %v, then %v", plugins, got)
	}
	time.Sleep(500 * time.Millisecond)
	ok, failed := demoLoad.stop()
	betaOK, _ := betaLoad.stop()
	if failed > 0 || ok == 0 {
		t.Fatalf("demo's load across the reloads: %d ok, %d failed (first: %s)", ok, failed, demoLoad.firstFailure())
	}
	if betaBefore == 0 || betaOK < betaBefore {
		t.Fatalf("beta's load: %d before its removal, %d in all", betaBefore, betaOK)
	}
	t.Logf("demo: %d requests across three reloads, none failed; beta: %d served before its removal", ok, betaOK)

	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Wait(); err != nil {
		t.Fatalf("ferry exited with %v", err)
	}
	stdout := f.stdout.String()
	chains, hashes, last := map[string]map[string]bool{}, map[string]map[string]bool{}, map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var ev struct{ Tenant, Action, ChainID, ConfigHash string }
		var raw map[string]any
		if json.Unmarshal([]byte(line), &raw) != nil {
			t.Fatalf("not an event: %.200s", line)
		}
		ev.Tenant, _ = raw["tenant"].(string)
		ev.Action, _ = raw["action"].(string)
		ev.ChainID, _ = raw["chain_id"].(string)
		ev.ConfigHash, _ = raw["config_hash"].(string)
		if chains[ev.Tenant] == nil {
			chains[ev.Tenant], hashes[ev.Tenant] = map[string]bool{}, map[string]bool{}
		}
		chains[ev.Tenant][ev.ChainID] = true
		hashes[ev.Tenant][ev.ConfigHash] = true
		last[ev.Tenant] = ev.Action
	}
	if len(chains["demo"]) != 1 || len(hashes["demo"]) < 3 {
		t.Fatalf("demo's trail: %d chains, %d config hashes; want one chain across three configurations", len(chains["demo"]), len(hashes["demo"]))
	}
	if len(chains["beta"]) != 1 || last["beta"] != "checkpoint" {
		t.Fatalf("beta's trail: %d chains, ending with %q; want one, ending with its final checkpoint", len(chains["beta"]), last["beta"])
	}
	out, err := exec.Command(filepath.Join(binaries(t), "ferry"), "audit", "pubkey", "--config", v1, "--tenant", "demo").Output()
	if err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimPrefix(strings.TrimSpace(string(out)), "demo=")
	verify := exec.Command(filepath.Join(binaries(t), "ferry"), "audit", "verify", "--config", v1, "--key", "gamma="+pub, "-")
	verify.Stdin = strings.NewReader(stdout)
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("ferry audit verify: %v\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, mustRead(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}
