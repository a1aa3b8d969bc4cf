//go:build unix

package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/residency"
	"github.com/ferryhealth/ferry/unified"
)

// TestResidencyTwoRegions: two real ferry processes, a node of region "us"
// (misdirected: forward) and one of "eu" (misdirected: redirect), with TLS
// between them, each region with its own FHIR source (Medplum), its own
// audit sinks (a webhook receiver, and a CloudWatch Logs group in the
// region's AWS region) and the tenants' secrets in the tenants' AWS
// regions (one moto, reached through a relay per node that records the
// signing region of every AWS call the node makes). Tenants:
//
//	euco  home eu, nothing else allowed (EU-only data)
//	usco  home us
//	glob  home us, may keep a source in eu (connection glob-eu)
//
// Every tenant × node × connection is requested: served at home, forwarded
// from us to eu, answered 421 from eu for a us tenant. The peers then say
// who reached them: no secret read, source call or audit write of a tenant
// happens outside its regions, and no node touches a tenant it does not
// serve (the us node forwards euco without reading any euco secret).
//
// Alone: make build test-deps && FERRY_BIN=$PWD/bin go test -race -run Residency ./cmd/ferry/
func TestResidencyTwoRegions(t *testing.T) {
	began := time.Now()
	const (
		role  = "arn:aws:iam::222222222222:role/ferry-reader"
		extID = "ext-residency-e2e-7"
	)
	awsRegion := map[string]string{"us": "us-east-1", "eu": "eu-west-1"}
	token := map[string]string{"us": "us-source-token-e2e", "eu": "eu-source-token-e2e"}

	moto := testpeer.StartMoto(t)
	src := map[string]*testpeer.Medplum{}
	for _, r := range []string{"us", "eu"} {
		src[r] = testpeer.StartMedplum(t, testpeer.MedplumOptions{RequireAuth: "Bearer " + token[r]})
	}

	// The tenants' secrets, each in its home region's AWS region.
	node := credentials.NewStaticCredentialsProvider("AKIAFERRYE2ENODE0000", "e2e-node-secret", "")
	secretARN := func(region, name, value string) string {
		acfg := aws.Config{Region: region, Credentials: node}
		stsc := sts.NewFromConfig(acfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
		acfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsc, role, func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String(extID) }))
		sm := secretsmanager.NewFromConfig(acfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
		out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	type tenantSpec struct {
		id, home string
		allowed  []string
		conns    map[string]string // connection id → region of its source
		arn      string
	}
	tenants := []*tenantSpec{
		{id: "euco", home: "eu", conns: map[string]string{"euco-ehr": "eu"}},
		{id: "usco", home: "us", conns: map[string]string{"usco-ehr": "us"}},
		{id: "glob", home: "us", allowed: []string{"eu"}, conns: map[string]string{"glob-us": "us", "glob-eu": "eu"}},
	}
	for _, tn := range tenants {
		tn.arn = secretARN(awsRegion[tn.home], "ferry/"+tn.id, `{"audit":"audit-key-`+tn.id+`-0123456789abcdef0123456789","hmac":"hmac-`+tn.id+`-0123456789abcdef","us":"`+token["us"]+`","eu":"`+token["eu"]+`"}`)
	}

	// Per region, the log group of the AWS audit sinks (the node's own
	// account, as Ferry's AWS sinks use the node's credentials).
	logs := map[string]*cloudwatchlogs.Client{}
	for r, ar := range awsRegion {
		logs[r] = cloudwatchlogs.NewFromConfig(aws.Config{Region: ar, Credentials: node}, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
		if _, err := logs[r].CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("ferry-audit")}); err != nil {
			t.Fatal(err)
		}
	}

	// Per node, a relay to moto that records the signing region of every
	// AWS call the node makes.
	type awsCall struct{ region, service string }
	var callsMu sync.Mutex
	calls := map[string][]awsCall{}
	scope := regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request`)
	motoURL, _ := url.Parse(moto.Endpoint)
	awsRelay := map[string]string{}
	for _, n := range []string{"us", "eu"} {
		rp := httputil.NewSingleHostReverseProxy(motoURL)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m := scope.FindStringSubmatch(r.Header.Get("Authorization"))
			callsMu.Lock()
			if m != nil {
				calls[n] = append(calls[n], awsCall{m[1], m[2]})
			} else {
				calls[n] = append(calls[n], awsCall{"unsigned", ""})
			}
			callsMu.Unlock()
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		awsRelay[n] = srv.URL
	}

	// Per region, an audit receiver; the path says which node wrote.
	type delivery struct {
		path string
		ev   map[string]any
	}
	var hooksMu sync.Mutex
	hooks := map[string][]delivery{}
	hookURL := map[string]string{}
	for _, r := range []string{"us", "eu"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			body, _ := io.ReadAll(req.Body)
			hooksMu.Lock()
			for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
				var ev map[string]any
				if json.Unmarshal(line, &ev) == nil {
					hooks[r] = append(hooks[r], delivery{req.URL.Path, ev})
				}
			}
			hooksMu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		hookURL[r] = srv.URL
	}

	// TLS between the nodes (and to the test client), from a test CA.
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := testCA(t, dir)
	nodeEnv(t, "AKIAFERRYE2ENODE0000", "e2e-node-secret")

	plugin := filepath.Join(binaries(t), "ferry-connector-fhir")
	sum, err := fileSHA256(plugin)
	if err != nil {
		t.Fatal(err)
	}
	listen := map[string]string{"us": freePort(t), "eu": freePort(t)}
	admin := map[string]string{"us": freePort(t), "eu": freePort(t)}
	mode := map[string]string{"us": "forward", "eu": "redirect"}
	key := func(tenant string) string { return "e2e-residency-key-" + tenant }

	configFor := func(n string) string {
		var regions, ts, cls, conns []any
		for _, r := range []string{"us", "eu"} {
			regions = append(regions, map[string]any{"name": r, "endpoint": "https://" + listen[r],
				"aws_regions": []string{awsRegion[r]}, "ca_file": caFile})
		}
		for _, tn := range tenants {
			te := map[string]any{"id": tn.id, "home_region": tn.home,
				"secrets": map[string]any{"provider": "aws", "region": awsRegion[tn.home], "role_arn": role, "external_id": extID,
					"endpoint": awsRelay[n], "cache_ttl": "1m"},
				"audit": map[string]any{"key_ref": tn.arn + "#audit", "sinks": []any{
					map[string]any{"kind": "webhook", "url": hookURL[tn.home] + "/from-" + n, "allow_insecure_http": true,
						"hmac_key_ref": tn.arn + "#hmac", "flush_interval": "50ms", "region": tn.home},
					map[string]any{"kind": "cloudwatch", "region": awsRegion[tn.home], "endpoint": awsRelay[n],
						"log_group": "ferry-audit", "log_stream_prefix": "from-" + n + "-", "flush_interval": "50ms"},
				}}}
			if len(tn.allowed) > 0 {
				te["allowed_regions"] = tn.allowed
			}
			ts = append(ts, te)
			d := sha256.Sum256([]byte(key(tn.id)))
			var ids []string
			for id, r := range tn.conns {
				ids = append(ids, id)
				conns = append(conns, map[string]any{"id": id, "tenant": tn.id, "connector": "fhir", "base_url": src[r].BaseURL,
					"region": r, "auth": map[string]any{"kind": "bearer", "secret_ref": tn.arn + "#" + r},
					"allow_insecure_http": true, "allow_private_network": true})
			}
			slices.Sort(ids)
			cls = append(cls, map[string]any{"id": tn.id + "-app", "tenant": tn.id, "api_key_sha256": hex.EncodeToString(d[:]),
				"connections": ids, "scopes": []string{"read", "passthrough"}})
		}
		doc, _ := json.MarshalIndent(map[string]any{
			"node": map[string]any{"listen": listen[n], "admin_listen": admin[n], "region": n,
				"tls": map[string]any{"cert_file": certFile, "key_file": keyFile}},
			"regions":     regions,
			"misdirected": mode[n],
			"plugins":     []any{map[string]any{"kind": "fhir", "path": plugin, "sha256": sum}},
			"cursor":      map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:FERRY_E2E_CURSOR_KEY"}}},
			"tenants":     ts, "clients": cls, "connections": conns,
		}, "", "  ")
		path := filepath.Join(dir, "ferry-"+n+".json")
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	nodes := map[string]*proc{}
	for _, n := range []string{"us", "eu"} {
		path := configFor(n)
		chk := startFerry(t, "check", "--config", path)
		if err := chk.cmd.Wait(); err != nil {
			t.Fatalf("ferry check (%s): %v\n%s", n, err, chk.stdout.String())
		}
		nodes[n] = startFerry(t, "serve", "--config", path)
	}
	for _, n := range []string{"us", "eu"} {
		waitHTTP(t, "http://"+admin[n]+"/readyz", 200, 30*time.Second)
	}
	started := time.Since(began)

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	type outcome struct {
		tenant, node, conn, id string
		status                 int
		servedBy, home         string
	}
	var outcomes []outcome
	// byID says, for each request id, its tenant and its source's region.
	type target struct {
		tn     *tenantSpec
		region string
	}
	byID := map[string]target{}
	matrixStart := time.Now()
	for _, tn := range tenants {
		for _, n := range []string{"us", "eu"} {
			for conn := range tn.conns {
				for i, path := range []string{"/patients?limit=2", "/patients/" + src[tn.conns[conn]].PatientIDs[0]} {
					id := "m-" + tn.id + "-" + n + "-" + conn + "-" + string(rune('a'+i))
					byID[id] = target{tn, tn.conns[conn]}
					req, _ := http.NewRequest("GET", "https://"+listen[n]+"/v1/"+conn+path, nil)
					req.Header.Set("Authorization", "Bearer "+key(tn.id))
					req.Header.Set("X-Request-Id", id)
					resp, err := client.Do(req)
					if err != nil {
						t.Fatalf("%s: %v", id, err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					o := outcome{tn.id, n, conn, id, resp.StatusCode, resp.Header.Get(residency.HeaderServedBy), resp.Header.Get(residency.HeaderHomeEndpoint)}
					outcomes = append(outcomes, o)
					switch {
					case n == tn.home:
						if o.status != 200 || o.servedBy != "" {
							t.Errorf("%s: served at home: %d %q %s", id, o.status, o.servedBy, body)
						}
					case mode[n] == "forward":
						if o.status != 200 || o.servedBy != tn.home {
							t.Errorf("%s: forwarded: %d %q %s", id, o.status, o.servedBy, body)
						}
					default:
						var p unified.Problem
						if o.status != 421 || json.Unmarshal(body, &p) != nil || p.Code != unified.CodeMisdirectedRequest || o.home != "https://"+listen[tn.home] {
							t.Errorf("%s: redirected: %d %q %s", id, o.status, o.home, body)
						}
					}
				}
			}
		}
	}
	matrixTook := time.Since(matrixStart)

	// A client cannot make the eu node bounce a request back: the loop
	// guard header is honoured as "already forwarded".
	req, _ := http.NewRequest("GET", "https://"+listen["us"]+"/v1/euco-ehr/patients?limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+key("euco"))
	req.Header.Set(residency.HeaderForwardedFrom, "eu")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 421 {
		t.Fatalf("loop guard: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}

	// Sources: each call carried the request id; each tenant's calls
	// reached only sources in its regions, and only from its home node.
	sourceCalls := map[string]int{}
	for _, r := range []string{"us", "eu"} {
		for _, pr := range src[r].Requests(t) {
			tg, ok := byID[pr.RequestID]
			tn, want := tg.tn, tg.region
			if !ok {
				t.Errorf("%s source: a call with request id %q", r, pr.RequestID)
				continue
			}
			if want != r || !(r == tn.home || slices.Contains(tn.allowed, r)) {
				t.Errorf("%s source called for %s (connection in %s)", r, pr.RequestID, want)
			}
			if pr.Status == 401 {
				t.Errorf("%s source refused %s: the wrong region's credential", r, pr.RequestID)
			}
			sourceCalls[r]++
		}
	}
	if sourceCalls["us"] == 0 || sourceCalls["eu"] == 0 {
		t.Fatalf("source calls %v", sourceCalls)
	}

	// Audit: every request of a tenant served at home is in its region's
	// receiver, written by its home node; no node wrote to another
	// region's receiver; forwards and redirects are in the acting node's
	// own trail (stdout), in its region.
	want := map[string]int{}
	for _, o := range outcomes {
		if o.status == 200 {
			want[o.id]++
		}
	}
	waitFor(t, func() bool {
		hooksMu.Lock()
		defer hooksMu.Unlock()
		return len(hooks["us"])+len(hooks["eu"]) >= len(want)
	}, 10*time.Second)
	hooksMu.Lock()
	got := map[string]int{}
	for r, ds := range hooks {
		for _, d := range ds {
			tenant, _ := d.ev["tenant"].(string)
			var tn *tenantSpec
			for _, x := range tenants {
				if x.id == tenant {
					tn = x
				}
			}
			if tn == nil || tn.home != r || d.path != "/from-"+r || d.ev["region"] != r {
				t.Errorf("%s receiver: event of %q from %s in region %v", r, tenant, d.path, d.ev["region"])
			}
			if id, _ := d.ev["request_id"].(string); id != "" {
				got[id]++
			}
		}
	}
	hookCounts := map[string]int{"us": len(hooks["us"]), "eu": len(hooks["eu"])}
	hooksMu.Unlock()
	for id := range want {
		if got[id] != 1 {
			t.Errorf("%s: %d events in the home region's receiver", id, got[id])
		}
	}
	// The AWS audit sinks: each region's log group holds only events of
	// its own tenants, written by its own node, one per served request.
	cwCounts := map[string]int{}
	cwGot := map[string]int{}
	waitFor(t, func() bool {
		n := 0
		for r := range logs {
			out, err := logs[r].DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("ferry-audit")})
			if err == nil {
				n += len(out.LogStreams)
			}
		}
		return n >= 3 // one chain per tenant
	}, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the last batch
	for r, cw := range logs {
		streams, err := cw.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("ferry-audit")})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range streams.LogStreams {
			name := aws.ToString(st.LogStreamName)
			if !strings.HasPrefix(name, "from-"+r+"-") {
				t.Errorf("%s log group: stream %s written by another region's node", r, name)
			}
			out, err := cw.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("ferry-audit"),
				LogStreamName: st.LogStreamName, StartFromHead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.Events {
				var ev map[string]any
				if json.Unmarshal([]byte(aws.ToString(e.Message)), &ev) != nil {
					t.Errorf("%s log group: not an event", r)
					continue
				}
				cwCounts[r]++
				if id, _ := ev["request_id"].(string); id != "" {
					cwGot[id]++
				}
				if tg, ok := byID[fmt.Sprint(ev["request_id"])]; !ok || tg.tn.home != r || ev["region"] != r {
					t.Errorf("%s log group: event %v", r, ev)
				}
			}
		}
	}
	for id := range want {
		if cwGot[id] != 1 {
			t.Errorf("%s: %d events in the home region's log group", id, cwGot[id])
		}
	}

	// Secrets and AWS audit sinks: each node reached AWS only in the
	// regions of the tenants it serves, so the us node never read euco's
	// secrets (in eu-west-1), nor the eu node usco's or glob's (us-east-1).
	callsMu.Lock()
	for n, cs := range calls {
		for _, c := range cs {
			if c.region != awsRegion[n] {
				t.Errorf("the %s node called AWS %s in %s", n, c.service, c.region)
			}
		}
	}
	awsCounts := map[string]int{"us": len(calls["us"]), "eu": len(calls["eu"])}
	callsMu.Unlock()
	if awsCounts["us"] == 0 || awsCounts["eu"] == 0 {
		t.Fatalf("AWS calls %v", awsCounts)
	}

	trail := func(n string) []map[string]any {
		var out []map[string]any
		sc := bufio.NewScanner(strings.NewReader(nodes[n].stdout.String()))
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				out = append(out, ev)
			}
		}
		return out
	}
	var forwards, redirects int
	for _, ev := range trail("us") {
		if ev["action"] == "forward" {
			forwards++
			if ev["tenant"] != "euco" || ev["region"] != "us" || ev["status"] != float64(200) || ev["patient_ref"] != nil {
				t.Errorf("us trail: %v", ev)
			}
		}
	}
	for _, ev := range trail("eu") {
		if ev["error_code"] == string(unified.CodeMisdirectedRequest) {
			redirects++
			if ev["action"] != "refused" || ev["region"] != "eu" || ev["tenant"] == "euco" {
				t.Errorf("eu trail: %v", ev)
			}
		}
	}
	if forwards != 2 || redirects != 6 {
		t.Errorf("%d forward events at us (want 2), %d redirect events at eu (want 6)", forwards, redirects)
	}
	// Last, as it adds requests the checks above do not expect: what a
	// forward costs, the same read at the home node and through the
	// other region's node (a second TLS hop, here on loopback).
	median := func(n string) time.Duration {
		var ds []time.Duration
		for i := 0; i < 25; i++ {
			req, _ := http.NewRequest("GET", "https://"+listen[n]+"/v1/euco-ehr/patients/"+src["eu"].PatientIDs[0], nil)
			req.Header.Set("Authorization", "Bearer "+key("euco"))
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("latency probe at %s: %d", n, resp.StatusCode)
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	direct, forwarded := median("eu"), median("us")
	t.Logf("ready in %v; %d requests in %v; read p50 at home %v, forwarded %v; source calls %v; AWS calls per node %v; audit events per webhook %v, per log group %v; total %v",
		started.Round(time.Millisecond), len(outcomes), matrixTook.Round(time.Millisecond), direct.Round(10*time.Microsecond),
		forwarded.Round(10*time.Microsecond), sourceCalls, awsCounts, hookCounts, cwCounts, time.Since(began).Round(time.Millisecond))
}

// testCA writes a CA and a server certificate for 127.0.0.1 under dir.
func testCA(t *testing.T, dir string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER), pool
}

// TestCheckResidency: `ferry check` names every residency violation with
// its JSON path and exits 1; the same file with them fixed passes.
func TestCheckResidency(t *testing.T) {
	const arnEU = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:ferry/eu-a1B2c3"
	doc := func(secretsRegion, connRegion, sinkRegion, arn string) []byte {
		b, _ := json.Marshal(map[string]any{
			"node": map[string]any{"region": "eu"},
			"regions": []any{
				map[string]any{"name": "eu", "endpoint": "https://eu.ferry.example", "aws_regions": []string{"eu-west-1"}},
				map[string]any{"name": "us", "endpoint": "https://us.ferry.example", "aws_regions": []string{"us-east-1"}},
			},
			"plugins": []any{map[string]any{"kind": "fhir", "path": "/bin/true", "sha256": strings.Repeat("a", 64)}},
			"cursor":  map[string]any{"keys": []any{map[string]any{"id": "k1", "secret_ref": "env:CURSOR"}}},
			"tenants": []any{map[string]any{"id": "euco", "home_region": "eu",
				"secrets": map[string]any{"provider": "aws", "region": secretsRegion, "role_arn": "arn:aws:iam::222222222222:role/r", "external_id": "ext-1"},
				"audit": map[string]any{"key_ref": arn + "#k", "sinks": []any{
					map[string]any{"kind": "s3", "region": sinkRegion, "bucket": "euco-audit"}}}}},
			"clients": []any{},
			"connections": []any{map[string]any{"id": "ehr", "tenant": "euco", "connector": "fhir", "region": connRegion,
				"base_url": "https://ehr.example/R4", "auth": map[string]any{"kind": "bearer", "secret_ref": arn + "#t"}}},
		})
		return b
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, doc("us-east-1", "us", "us-east-1", strings.Replace(arnEU, "eu-west-1", "us-east-1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, want := range []string{"$.tenants[0].secrets.region:", "$.tenants[0].audit.key_ref:", "$.tenants[0].audit.sinks[0].region:",
		"$.connections[0].region:", "$.connections[0].auth.secret_ref:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no problem at %s:\n%s", want, out.String())
		}
	}
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, doc("eu-west-1", "eu", "eu-west-1", arnEU), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"check", "--config", good}, &out, &errb); code != 0 {
		t.Fatalf("fixed config refused: %s", out.String())
	}
}
