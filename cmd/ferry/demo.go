package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	hl7sandbox "github.com/ferryhealth/ferry/connectors/hl7v2/sandbox"
	"github.com/ferryhealth/ferry/internal/gateway"
	"github.com/ferryhealth/ferry/proxy/config"
)

// Demo constants. They are deliberately public: the demo holds only
// synthetic data and must be reproducible (`ferry audit hash` without a
// config recomputes demo patient references with the same audit key).
const (
	DemoAPIKey   = "demo-key-not-secret"
	DemoAuditKey = "demo-audit-key-not-secret-0123456789abcdef"
	demoTenant   = "demo"
	demoConn     = "demo"
	demoClient   = "demo-app"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "API listen address")
	adminListen := fs.String("admin-listen", "127.0.0.1:9090", "admin listen address (/healthz, /readyz, /metrics)")
	events := fs.Bool("events", false, "also run an HL7 v2 feed on demo-hl7, a sandbox sender pushing ADT and ORU messages to it, and a webhook receiver printing the verified deliveries (docs/events.md)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 2
	}
	pluginPath, err := siblingBinary("ferry-connector-fhir")
	if err != nil {
		fmt.Fprintf(stderr, "ferry demo: %v (run `make build` first)\n", err)
		return 3
	}
	sum, err := fileSHA256(pluginPath)
	if err != nil {
		fmt.Fprintf(stderr, "ferry demo: %v\n", err)
		return 3
	}

	// The sandbox source: a small FHIR R4 server with synthetic patients,
	// in this process, on loopback.
	sb := sandbox.New(sandbox.Options{})
	sbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "ferry demo: %v\n", err)
		return 3
	}
	sbSrv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = sbSrv.Serve(sbLn) }()
	defer sbSrv.Close()

	cfgJSON := demoConfig(*listen, *adminListen, pluginPath, sum, "http://"+sbLn.Addr().String()+"/fhir/R4")

	// The HL7 v2 sandbox: a patient demographics supplier speaking MLLP,
	// in this process, on loopback, served through the HL7 v2 plugin. The
	// demo runs without it when that plugin was not built.
	var feedAddr string
	hl7Guide := "\n(ferry-connector-hl7v2 not found next to ferry: the HL7 v2 connection demo-hl7 is left out)\n"
	if hl7Path, err := siblingBinary("ferry-connector-hl7v2"); err == nil {
		hl7Sum, err := fileSHA256(hl7Path)
		if err != nil {
			fmt.Fprintf(stderr, "ferry demo: %v\n", err)
			return 3
		}
		hl7Ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(stderr, "ferry demo: %v\n", err)
			return 3
		}
		hl7Sb := hl7sandbox.New()
		go func() { _ = hl7Sb.Serve(hl7Ln) }()
		defer hl7Sb.Close()
		cfgJSON = withHL7Connection(cfgJSON, hl7Path, hl7Sum, "mllp://"+hl7Ln.Addr().String())
		hl7Guide = ""
		if *events {
			recv, err := startDemoReceiver(stderr)
			if err != nil {
				fmt.Fprintf(stderr, "ferry demo: %v\n", err)
				return 3
			}
			defer recv.srv.Close()
			feedLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				fmt.Fprintf(stderr, "ferry demo: %v\n", err)
				return 3
			}
			feedAddr = feedLn.Addr().String()
			feedLn.Close()
			cfgJSON = withDemoFeed(cfgJSON, feedAddr, recv.url)
		}
	}
	cfg, probs := config.Parse(cfgJSON, "")
	if len(probs) > 0 {
		printProblems(stderr, "demo config", probs)
		return 3
	}
	logger := newLogger(stderr)
	g, err := gateway.Start(context.Background(), cfg, config.Hash(cfgJSON), stdout, logger, gateway.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "ferry demo: %v\n", err)
		return 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	err = g.Host.WaitReady(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "ferry demo: %v\n", err)
		return 3
	}
	ids := sb.PatientIDs()
	rec := sb.RecordPatientIDs()
	// Carla (the last record patient) is alive, has allergies, documents and
	// a booked appointment: the most to see in one patient.
	p := "none"
	if len(rec) > 0 {
		p = rec[len(rec)-1]
	}
	base := "http://" + g.APIAddr().String()
	auth := "-H 'Authorization: Bearer " + DemoAPIKey + "'"
	if hl7Guide == "" {
		hl7Guide = fmt.Sprintf(hl7DemoGuide, base, auth)
	}
	// The guide goes to stderr, so stdout carries only audit events and can
	// be piped to `ferry audit verify` or a file as it is.
	fmt.Fprintf(stderr, `
Ferry demo is running: gateway %[1]s, admin http://%[2]s, FHIR connector plugin, sandbox FHIR R4
source with %[3]d synthetic patients (%[4]d with full records). Audit events (one JSON line per
request) go to stdout.

Try:
  curl -s %[5]s '%[1]s/v1/demo/capabilities'
  curl -s %[5]s '%[1]s/v1/demo/patients?limit=5'
  curl -s %[5]s '%[1]s/v1/demo/patients/%[6]s'
  curl -s %[5]s '%[1]s/v1/demo/observations?patient_id=%[6]s&category=vital-signs&limit=5'
      # then pass the answer's next_cursor: ...observations?cursor=<next_cursor>
  curl -s %[5]s '%[1]s/v1/demo/conditions?patient_id=%[6]s&fields=code,clinical_status,onset_at'
  curl -s %[5]s '%[1]s/v1/demo/allergies?patient_id=%[6]s'
  curl -s %[5]s '%[1]s/v1/demo/documents?patient_id=%[6]s'
  curl -s %[5]s '%[1]s/v1/demo/passthrough/Patient/%[6]s'     # the source's own FHIR record
%[7]s
Writes, kept in the sandbox's memory until the demo stops (docs/writes.md):
  B='{"status":"booked","start":"2027-03-01T09:00:00Z","end":"2027-03-01T09:20:00Z","patient":{"resource":"patients","id":"%[6]s"}}'
  curl -si %[5]s -H 'Idempotency-Key: demo-1' -d "$B" '%[1]s/v1/demo/appointments'   # 201, ETag W/"1"
  curl -si %[5]s -H 'Idempotency-Key: demo-1' -d "$B" '%[1]s/v1/demo/appointments'   # retried: 200, Idempotent-Replayed
  curl -si %[5]s -H 'If-Match: W/"1"' -X PATCH -d '{"status":"cancelled"}' '%[1]s/v1/demo/appointments/<id>'  # 200, W/"2"
  curl -si %[5]s -H 'If-Match: W/"1"' -X PATCH -d '{"status":"booked"}' '%[1]s/v1/demo/appointments/<id>'     # 412 conflict

  curl -s '%[1]s/v1/demo/patients'                               # 401 problem+json
  curl -s '%[1]s/v1/openapi.json'
  curl -s http://%[2]s/readyz

Ctrl-C to stop.
`, base, g.AdminAddr(), len(ids), len(rec), auth, p, hl7Guide)
	if feedAddr != "" {
		fmt.Fprintf(stderr, "Events: the sandbox sender pushes ADT and ORU messages to the feed on %s; each event is\nPOSTed, signed, to the demo receiver, and acknowledged AA once it answered (docs/events.md).\n\n", feedAddr)
		go sendDemoMessages(feedAddr, stderr)
	}
	return g.Wait(logger)
}

// demoConfig is the demo's configuration, built as JSON so it goes through
// exactly the decoding and validation a real config does.
func demoConfig(listen, adminListen, pluginPath, pluginSHA256, sourceURL string) []byte {
	key := sha256.Sum256([]byte(DemoAPIKey))
	cfg := map[string]any{
		"dev_mode": true,
		"node":     map[string]any{"listen": listen, "admin_listen": adminListen, "region": "local"},
		"plugins":  []any{map[string]any{"kind": "fhir", "path": pluginPath, "sha256": pluginSHA256}},
		"tenants": []any{map[string]any{
			"id": demoTenant, "secrets": map[string]any{"provider": "env"},
			"audit": map[string]any{"key_ref": "literal:" + DemoAuditKey, "signing_key_ref": "literal:" + DemoSigningKey},
		}},
		"clients": []any{map[string]any{
			"id": demoClient, "tenant": demoTenant, "api_key_sha256": hex.EncodeToString(key[:]),
			"connections": []string{demoConn},
			// The demo client may use passthrough too, to show it.
			"scopes": []string{config.ScopeRead, config.ScopeWrite, config.ScopePassthrough},
		}},
		"connections": []any{map[string]any{
			"id": demoConn, "tenant": demoTenant, "connector": "fhir", "base_url": sourceURL,
			"auth": map[string]any{"kind": "none"}, "timeout": "10s",
			"allow_insecure_http": true, "allow_private_network": true,
		}},
	}
	b, _ := json.Marshal(cfg)
	return b
}

// hl7DemoGuide is the HL7 v2 part of the demo's guide: %[1]s is the
// gateway's base URL, %[2]s the auth header option.
const hl7DemoGuide = `
Patients from an HL7 v2 source too: connection demo-hl7, the ferry-connector-hl7v2 plugin asking a
sandbox IHE PDQ supplier over MLLP (fictional patients; ids are its medical record numbers):
  curl -s %[2]s '%[1]s/v1/demo-hl7/capabilities'
  curl -s %[2]s '%[1]s/v1/demo-hl7/patients?name=okafor'
  curl -s %[2]s '%[1]s/v1/demo-hl7/patients?birth_date=1984-03-12'
  curl -s %[2]s '%[1]s/v1/demo-hl7/patients?identifier=900-01-1009'
  curl -s %[2]s '%[1]s/v1/demo-hl7/patients?name=*&limit=5'   # then ?cursor=<next_cursor>: a continuation pointer
  curl -s %[2]s '%[1]s/v1/demo-hl7/patients/SBX-1005'
`

// demoHL7Conn is the demo's HL7 v2 connection.
const demoHL7Conn = "demo-hl7"

// withHL7Connection adds the HL7 v2 plugin and connection "demo-hl7" (the
// sandbox supplier at sourceURL, an mllp:// URL) to a demo config, and
// lets the demo client use it.
func withHL7Connection(cfgJSON []byte, pluginPath, pluginSHA256, sourceURL string) []byte {
	var cfg map[string]any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		panic("demo config: " + err.Error())
	}
	cfg["plugins"] = append(cfg["plugins"].([]any), map[string]any{"kind": "hl7v2", "path": pluginPath, "sha256": pluginSHA256})
	cfg["connections"] = append(cfg["connections"].([]any), map[string]any{
		"id": demoHL7Conn, "tenant": demoTenant, "connector": "hl7v2", "base_url": sourceURL,
		"auth": map[string]any{"kind": "none"}, "timeout": "10s",
		// Plain MLLP on loopback: fine for a demo, refused otherwise.
		"allow_insecure_http": true, "allow_private_network": true,
		"settings": map[string]any{"id_authority": map[string]any{"namespace": hl7sandbox.Namespace}},
	})
	for _, c := range cfg["clients"].([]any) {
		cl := c.(map[string]any)
		if cl["id"] == demoClient {
			cl["connections"] = append(cl["connections"].([]any), demoHL7Conn)
		}
	}
	b, _ := json.Marshal(cfg)
	return b
}

// siblingBinary finds a binary next to the running ferry executable.
func siblingBinary(name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	exe, _ = filepath.EvalSymlinks(exe)
	p := filepath.Join(filepath.Dir(exe), name)
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return "", errors.New(name + " not found next to the ferry binary")
	}
	return p, nil
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
