//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// End-to-end for HL7 v2: the real ferry binary with the real
// ferry-connector-hl7v2 plugin, against two MLLP patient demographics
// suppliers nobody here wrote (python-hl7's MLLP server, @medplum/hl7's
// connection), each answering from a fixture this test gives it.
//
// Run alone with:
//
//	make build test-deps && FERRY_BIN=$PWD/bin go test -run HL7 -v ./cmd/ferry/

// hl7Patients are the suppliers' patients (all fictional). Every family
// name starts with "Quill".
var hl7Patients = []testpeer.PDQPatient{
	{IDs: []testpeer.PDQID{{ID: "QMR-1", Namespace: "QUILLHEALTH", OID: "2.999.7.1"}, {ID: "900-77-0001", Namespace: "SSA", OID: "2.16.840.1.113883.4.1", Type: "SS"}},
		Family: "Quillfeather", Given: []string{"Imogen", "Rae"}, BirthDate: "19790214", Sex: "F",
		Street: "3 Inkwell Row", City: "Scriven", State: "ME", Zip: "04001", Country: "USA", Phone: "(555)017-0001"},
	{IDs: []testpeer.PDQID{{ID: "QMR-2", Namespace: "QUILLHEALTH", OID: "2.999.7.1"}},
		Family: "Quillon", Given: []string{"Bastian"}, BirthDate: "19550630", Sex: "M", Deceased: "202201011200-0500"},
	{IDs: []testpeer.PDQID{{ID: "QMR-3", Namespace: "QUILLHEALTH", OID: "2.999.7.1"}}, Family: "Quillfeather", Given: []string{"Otto"}, BirthDate: "201105", Sex: "M"},
	{IDs: []testpeer.PDQID{{ID: "QMR-4", Namespace: "QUILLHEALTH", OID: "2.999.7.1"}}, Family: "Quillby", Given: []string{"Nora"}, BirthDate: "19880911", Sex: "F"},
	{IDs: []testpeer.PDQID{{ID: "QMR-5", Namespace: "QUILLHEALTH", OID: "2.999.7.1"}}, Family: "Quillan", Given: []string{"Teodor"}, BirthDate: "19920402", Sex: "O"},
}

// hl7Config is a config with the demo's FHIR connection (unused here) and
// three HL7 v2 connections: "hl7" on the supplier at addr, "hl7-rej" on a
// supplier that refuses every query, and "hl7-down" on a port nobody
// listens on.
func hl7Config(t *testing.T, listen, admin, addr, rejAddr string) string {
	t.Helper()
	bin := binaries(t)
	fhirSum, err := fileSHA256(filepath.Join(bin, "ferry-connector-fhir"))
	if err != nil {
		t.Fatal(err)
	}
	hl7Path := filepath.Join(bin, "ferry-connector-hl7v2")
	hl7Sum, err := fileSHA256(hl7Path)
	if err != nil {
		t.Fatalf("%v (make build builds the HL7 v2 plugin)", err)
	}
	cfgJSON := demoConfig(listen, admin, filepath.Join(bin, "ferry-connector-fhir"), fhirSum, "http://127.0.0.1:1/fhir")
	cfgJSON = withHL7Connection(cfgJSON, hl7Path, hl7Sum, "mllp://"+addr)
	var cfg map[string]any
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	conns := cfg["connections"].([]any)
	hl7 := conns[len(conns)-1].(map[string]any)
	hl7["id"] = "hl7"
	hl7["timeout"] = "3s"
	hl7["settings"] = map[string]any{
		"id_authority":       map[string]any{"namespace": "QUILLHEALTH"},
		"identifier_systems": map[string]any{"QUILLHEALTH": "urn:example:quillhealth"},
	}
	clone := func(id, url string) map[string]any {
		c := map[string]any{}
		for k, v := range hl7 {
			c[k] = v
		}
		c["id"], c["base_url"] = id, url
		return c
	}
	down := freePort(t) // closed again: nobody listens there
	cfg["connections"] = append(conns, clone("hl7-rej", "mllp://"+rejAddr), clone("hl7-down", "mllp://"+down))
	cl := cfg["clients"].([]any)[0].(map[string]any)
	cl["connections"] = []string{demoConn, "hl7", "hl7-rej", "hl7-down"}
	path := filepath.Join(t.TempDir(), "ferry.json")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHL7ServeAgainstMLLPPeers(t *testing.T) {
	for _, peer := range []struct {
		name  string
		start func(testing.TB, testpeer.PDQFixture) *testpeer.MLLPPeer
	}{
		{"python-hl7", testpeer.StartPythonHL7},
		{"medplum-hl7", testpeer.StartMedplumHL7},
	} {
		t.Run(peer.name, func(t *testing.T) {
			src := peer.start(t, testpeer.PDQFixture{Patients: hl7Patients, Domains: []string{"QUILLHEALTH", "SSA"}})
			rej := peer.start(t, testpeer.PDQFixture{Patients: hl7Patients, Ack: "AR"})
			listen, admin := freePort(t), freePort(t)
			f := startFerry(t, "serve", "--config", hl7Config(t, listen, admin, src.Addr, rej.Addr))
			waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
			requireSandboxed(t, f, admin, "hl7v2")
			testHL7(t, f, "http://"+listen+"/v1/", src)
		})
	}
}

func testHL7(t *testing.T, f *proc, base string, src *testpeer.MLLPPeer) {
	requests := 0
	search := func(query string) []unified.Patient {
		t.Helper()
		requests++
		status, body := get(t, base+"hl7/patients?"+query, DemoAPIKey)
		var list unified.List[unified.Patient]
		if status != 200 || json.Unmarshal(body, &list) != nil {
			t.Fatalf("search %s: %d %s", query, status, body)
		}
		return list.Data
	}
	ids := func(ps []unified.Patient) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}

	// By name, birth date and identifier (bare, and with its system).
	if got := ids(search("name=quillfeather")); !slices.Equal(got, []string{"QMR-1", "QMR-3"}) {
		t.Fatalf("by name: %v", got)
	}
	if got := ids(search("birth_date=1955-06-30")); !slices.Equal(got, []string{"QMR-2"}) {
		t.Fatalf("by birth date: %v", got)
	}
	if got := ids(search("identifier=900-77-0001")); !slices.Equal(got, []string{"QMR-1"}) {
		t.Fatalf("by identifier: %v", got)
	}
	if got := ids(search("identifier=" + url.QueryEscape("urn:example:quillhealth|QMR-4"))); !slices.Equal(got, []string{"QMR-4"}) {
		t.Fatalf("by system|identifier: %v", got)
	}

	// Read by identifier, mapped.
	requests++
	status, body := get(t, base+"hl7/patients/QMR-2", DemoAPIKey)
	var p unified.Patient
	if status != 200 || json.Unmarshal(body, &p) != nil || p.ID != "QMR-2" || p.BirthDate != "1955-06-30" ||
		len(p.Names) == 0 || p.Names[0].Family != "Quillon" || p.Deceased == nil || p.Source.ConnectionID != "hl7" {
		t.Fatalf("read: %d %s", status, body)
	}
	requests++
	if status, body := get(t, base+"hl7/patients/QMR-404", DemoAPIKey); status != 404 {
		t.Fatalf("read unknown: %d %s", status, body)
	}

	// Paging: two at a time, the supplier's continuation pointers sealed in
	// Ferry cursors.
	var paged []string
	q := "name=quill*&limit=2"
	for range 5 {
		requests++
		status, body := get(t, base+"hl7/patients?"+q, DemoAPIKey)
		var list unified.List[unified.Patient]
		if status != 200 || json.Unmarshal(body, &list) != nil || len(list.Data) > 2 {
			t.Fatalf("page: %d %s", status, body)
		}
		paged = append(paged, ids(list.Data)...)
		if list.NextCursor == "" {
			break
		}
		q = "cursor=" + url.QueryEscape(list.NextCursor)
	}
	if want := []string{"QMR-1", "QMR-2", "QMR-3", "QMR-4", "QMR-5"}; !slices.Equal(paged, want) {
		t.Fatalf("paged %v, want %v", paged, want)
	}
	reqs := src.WaitRequests(t, requests)
	last := reqs[len(reqs)-3:]
	if last[0].Pointer != "" || last[1].Pointer == "" || last[2].Pointer == "" ||
		last[1].QueryTag != last[0].QueryTag || last[0].Limit != 2 || last[0].Params["@PID.5.1.1"] != "quill*" {
		t.Fatalf("continuation queries as the supplier read them: %+v", last)
	}

	// A supplier that rejects the query: a problem, with no HL7 text.
	requests++
	resp := getResp(t, base+"hl7-rej/patients?name=quillon")
	if resp.status != 502 || resp.contentType != "application/problem+json" || resp.problem.Code != unified.CodeUpstreamError ||
		strings.Contains(string(resp.body), "internal error") {
		t.Fatalf("rejected query: %d %s %s", resp.status, resp.contentType, resp.body)
	}

	// A supplier that is down: 503 at once.
	requests++
	start := time.Now()
	resp = getResp(t, base+"hl7-down/patients?name=quillon")
	if resp.status != 503 || resp.problem.Code != unified.CodeSourceUnavailable {
		t.Fatalf("supplier down: %d %s", resp.status, resp.body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("supplier down: answered after %v", took)
	}

	// One audit event per request, naming the connection and connector,
	// and no PHI in the audit trail or the logs.
	waitFor(t, func() bool { return strings.Count(f.stdout.String(), "\n") >= requests }, 5*time.Second)
	sc := bufio.NewScanner(strings.NewReader(f.stdout.String()))
	events, hl7Events := 0, 0
	for sc.Scan() {
		var ev struct {
			Connection, Connector, Action string
			Status                        int
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not an audit event: %q", sc.Text())
		}
		events++
		if ev.Connection == "hl7" && ev.Connector == "hl7v2" && ev.Action != "" {
			hl7Events++
		}
	}
	if events != requests || hl7Events != requests-2 {
		t.Fatalf("%d audit events (%d on connection hl7) for %d requests", events, hl7Events, requests)
	}
	for _, out := range []string{f.stdout.String(), f.stderr.String()} {
		for _, pt := range hl7Patients {
			// Canaries of five characters or more: shorter ones turn up by
			// chance in hashes and latencies.
			mapped := pt.BirthDate[:4] + "-" + pt.BirthDate[4:6]
			for _, c := range append([]string{pt.IDs[0].ID, pt.Family, pt.BirthDate, mapped}, pt.Given...) {
				if len(c) >= 5 && strings.Contains(out, c) {
					t.Fatalf("PHI %q in ferry output", c)
				}
			}
		}
	}
}

type problemResp struct {
	status      int
	contentType string
	header      http.Header
	body        []byte
	problem     unified.Problem
}

func getResp(t *testing.T, u string) problemResp {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	var r problemResp
	r.status, r.contentType, r.header = resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header
	var buf strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&buf)
	r.body = []byte(buf.String())
	_ = json.Unmarshal(r.body, &r.problem)
	return r
}

// TestHL7Demo: `ferry demo` serves patients through the HL7 v2 plugin from
// its sandbox MLLP supplier, pages them by continuation pointer, and
// prints the commands to try it.
func TestHL7Demo(t *testing.T) {
	listen, admin := freePort(t), freePort(t)
	f := startFerry(t, "demo", "--listen", listen, "--admin-listen", admin)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	base := "http://" + listen + "/v1/demo-hl7/patients"
	status, body := get(t, base+"?name=okafor", DemoAPIKey)
	var list unified.List[unified.Patient]
	if status != 200 || json.Unmarshal(body, &list) != nil || len(list.Data) != 2 {
		t.Fatalf("demo HL7 search: %d %s", status, body)
	}
	var all []string
	q := "?name=*&limit=5"
	for range 5 {
		status, body := get(t, base+q, DemoAPIKey)
		list = unified.List[unified.Patient]{}
		if status != 200 || json.Unmarshal(body, &list) != nil {
			t.Fatalf("demo HL7 page: %d %s", status, body)
		}
		for _, p := range list.Data {
			all = append(all, p.ID)
		}
		if list.NextCursor == "" {
			break
		}
		q = "?cursor=" + url.QueryEscape(list.NextCursor)
	}
	if len(all) != 12 || all[0] != "SBX-1001" || all[11] != "SBX-1012" {
		t.Fatalf("demo HL7 paging: %v", all)
	}
	if status, body := get(t, base+"/SBX-1005", DemoAPIKey); status != 200 {
		t.Fatalf("demo HL7 read: %d %s", status, body)
	}
	if !strings.Contains(f.stderr.String(), "/v1/demo-hl7/patients?name=okafor") {
		t.Fatal("the demo guide lacks the HL7 v2 commands")
	}
	// HL7 v2 sources stay read-only, and say so; the FHIR sandbox writes.
	for conn, writes := range map[string]bool{"demo-hl7": false, "demo": true} {
		var caps unified.Capabilities
		status, body = get(t, "http://"+listen+"/v1/"+conn+"/capabilities", DemoAPIKey)
		if status != 200 || json.Unmarshal(body, &caps) != nil || !caps.Write {
			t.Fatalf("%s capabilities: %d %s", conn, status, body)
		}
		for _, rc := range caps.Resources {
			if _, writable := unified.Writable(rc.Resource); (rc.Create || rc.Update) != (writes && writable) {
				t.Fatalf("%s %s: create %v, update %v", conn, rc.Resource, rc.Create, rc.Update)
			}
		}
	}
	if !strings.Contains(f.stderr.String(), "Idempotent-Replayed") {
		t.Fatal("the demo guide lacks the writes")
	}
	// The guide's writes, against the demo's sandbox (in memory).
	var pats unified.List[unified.Patient]
	if _, body := get(t, "http://"+listen+"/v1/demo/patients?limit=1", DemoAPIKey); json.Unmarshal(body, &pats) != nil || len(pats.Data) != 1 {
		t.Fatalf("demo patients: %s", body)
	}
	appt := `{"status":"booked","start":"2027-03-01T09:00:00Z","end":"2027-03-01T09:20:00Z","patient":{"resource":"patients","id":"` + pats.Data[0].ID + `"}}`
	send := func(method, path, body string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+listen+"/v1/demo"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	created := send("POST", "/appointments", appt, "Idempotency-Key", "demo-1")
	replayed := send("POST", "/appointments", appt, "Idempotency-Key", "demo-1")
	loc := created.Header.Get("Location")
	if created.StatusCode != 201 || replayed.StatusCode != 200 || replayed.Header.Get("Idempotent-Replayed") != "true" || loc == "" {
		t.Fatalf("demo create: %d, retried %d %v", created.StatusCode, replayed.StatusCode, replayed.Header)
	}
	id := loc[strings.LastIndexByte(loc, '/'):]
	if r := send("PATCH", "/appointments"+id, `{"status":"cancelled"}`, "If-Match", `W/"1"`); r.StatusCode != 200 || r.Header.Get("ETag") != `W/"2"` {
		t.Fatalf("demo update: %d %v", r.StatusCode, r.Header)
	}
	if r := send("PATCH", "/appointments"+id, `{"status":"booked"}`, "If-Match", `W/"1"`); r.StatusCode != 412 {
		t.Fatalf("demo conflict: %d", r.StatusCode)
	}
}
