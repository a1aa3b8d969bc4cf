//go:build linux

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// The PHI canary: a patient whose names, identifiers, telecom, addresses,
// notes, narrative and free text carry marker strings is loaded into a real
// FHIR server, and the real `ferry serve` with the real FHIR plugin is driven
// over it: every resource searched and read, raw and masked, passthrough,
// filters carrying markers, bad requests carrying markers, and the same again
// once the source is gone. No marker (nor the patient's or a record's id)
// may reach the audit stream (stdout), the logs (stderr), the admin metrics,
// a problem body or a response header; the audit stream has one event per
// request and verifies; and the process, traced with strace and run from a
// read-only working directory, creates, writes, renames and removes no file
// except the go-plugin sockets that tracedFerry.allow lists.
//
// Successful data responses do carry the markers: serving them is the API.
// The test checks that they do, so a canary that never reached Ferry cannot
// pass silently.
//
// Run alone (needs Node for the Medplum peer, and strace):
//
//	make build test-deps && FERRY_BIN=$PWD/bin go test -count=1 -race -run TestPHICanary ./cmd/ferry/

const (
	// canaryPrefix starts every marker; the checks look for it, in any
	// case, so a truncated, re-cased or partly quoted marker is still caught.
	canaryPrefix = "ZQXCANARY"
	// canarySynthea is the Synthea bundle the canary patient starts from:
	// small, and with allergies, medications, reports and immunizations.
	canarySynthea = "Carla_Echevarr303255a_9a628ccd-2a55-4331-8e68-bb58458fd674.json"
	straceBin     = "/usr/bin/strace"
)

var markerRE = regexp.MustCompile(canaryPrefix + `-[A-Z0-9]+-7731`)

// straceSyscalls are the calls that create, write, rename or remove a file;
// bind is traced too because binding a Unix socket creates a file-system
// node. "?" skips a name the architecture does not have.
const straceSyscalls = "?open,openat,?openat2,?creat,?rename,renameat,?renameat2,?link,linkat,?unlink,unlinkat," +
	"?mkdir,mkdirat,truncate,ftruncate,?symlink,symlinkat,?mknod,mknodat,bind"

func TestPHICanary(t *testing.T) {
	start := time.Now()
	if _, err := os.Stat(straceBin); err != nil {
		t.Fatalf("%s not found (%v): the PHI canary traces Ferry's file system calls with strace; "+
			"run `make test-deps` (strace is in the Makefile's DEBIAN_PEERS) or apt-get install strace", straceBin, err)
	}
	bundle, markers := buildCanaryBundle(t)
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{Bundles: []string{bundle}})
	if len(peer.PatientIDs) != 1 {
		t.Fatalf("canary bundle loaded %d patients, want 1", len(peer.PatientIDs))
	}
	pid := peer.PatientIDs[0]

	f := startTracedFerry(t, peer.BaseURL)
	c := &canaryClient{t: t, root: "http://" + f.listen, conn: "/v1/demo", markersSeen: map[string]bool{}}
	c.needles = []string{canaryPrefix, pid}

	// 1. Every resource the connection offers: a search by the canary
	// patient (or unfiltered for the shared ones), every cursor followed,
	// then reads of the first record: plain, raw and masked.
	var capab unified.Capabilities
	if r := c.do("GET", c.conn+"/capabilities", nil, ""); r.status != 200 || json.Unmarshal(r.body, &capab) != nil {
		t.Fatalf("capabilities: %d %s", r.status, r.body)
	}
	if len(capab.Resources) != len(unified.ResourceTypes()) || !capab.Passthrough {
		t.Fatalf("capabilities: %d resources (want %d), passthrough %v", len(capab.Resources), len(unified.ResourceTypes()), capab.Passthrough)
	}
	records := 0
	for _, rc := range capab.Resources {
		q := url.Values{"limit": {"10"}}
		if slices.ContainsFunc(rc.Filters, func(f unified.FilterCapability) bool { return f.Name == unified.FilterPatientID }) {
			q.Set(unified.FilterPatientID, pid)
		}
		ids := c.searchAll(string(rc.Resource), q)
		if len(ids) == 0 {
			t.Errorf("%s: the canary patient has no records: the fixture does not cover this resource", rc.Resource)
			continue
		}
		records += len(ids)
		c.needles = append(c.needles, ids[0])
		base := c.conn + "/" + string(rc.Resource) + "/" + ids[0]
		for _, suffix := range []string{"", "?raw=true", "?fields=source", "?raw=true&fields=id"} {
			if r := c.do("GET", base+suffix, nil, ""); r.status != 200 {
				t.Errorf("read %s%s: %d %s", rc.Resource, suffix, r.status, r.body)
			}
		}
	}

	// 2. Searches whose filter values are markers, and field masks.
	for _, s := range []struct{ path, want string }{
		{"/patients?name=ZQXCANARY-FAMILY-7731", pid},
		{"/patients?name=ZQXCANARY-GIVEN-7731&fields=names,identifiers", pid},
		{"/patients?identifier=ZQXCANARY-IDMR-7731", pid},
		{"/patients?identifier=" + url.QueryEscape("https://canary.example/mrn|ZQXCANARY-MRN-7731"), pid},
		{"/patients?name=ZQXCANARY-NOBODY-7731", ""},
		{"/practitioners?name=ZQXCANARY-PRACFAMILY-7731", ""},
		{"/organizations?name=ZQXCANARY-ORGNAME-7731", ""},
		{"/locations?name=ZQXCANARY-LOCNAME-7731&raw=true", ""},
		{"/observations?patient_id=" + pid + "&fields=value,code&limit=200", ""},
		{"/observations?patient_id=ZQXCANARY-PID-7731", ""},
		{"/documents?patient_id=" + pid + "&raw=true", ""},
		{"/patients/_changes?since=2000-01-01T00:00:00Z&limit=200", pid},
		{"/observations/_changes?since=2000-01-01T00:00:00Z&patient_id=" + pid + "&fields=value,code", ""},
	} {
		r := c.do("GET", c.conn+s.path, nil, "")
		if r.status != 200 {
			t.Errorf("search %s: %d %s", s.path, r.status, r.body)
		} else if s.want != "" && !bytes.Contains(r.body, []byte(`"id":"`+s.want+`"`)) {
			t.Errorf("search %s did not find the canary patient: %.300s", s.path, r.body)
		}
	}

	// 3. Passthrough (the demo client has the passthrough scope): the
	// source's own JSON, markers and narrative included, and a POST search
	// whose body carries a marker.
	for _, p := range []string{"/Patient/" + pid, "/Patient?name=ZQXCANARY-FAMILY-7731", "/Condition?subject=Patient/" + pid} {
		if r := c.do("GET", c.conn+"/passthrough"+p, nil, ""); r.status != 200 {
			t.Errorf("passthrough %s: %d %s", p, r.status, r.body)
		}
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if r := c.do("POST", c.conn+"/passthrough/Patient/_search", form, "name=ZQXCANARY-FAMILY-7731"); r.status != 200 {
		t.Errorf("passthrough POST _search: %d %s", r.status, r.body)
	}
	// The source's 404 for an unknown type is relayed as the source sent it.
	c.do("GET", c.conn+"/passthrough/ZQXCANARYPATHSEG7731/1", nil, "")

	// 3b. Writes (docs/writes.md): names, notes and descriptions in bodies,
	// markers in the idempotency key; then bodies that are refused with
	// markers in their values and keys, and a stale update.
	canaryWrites(c, pid)

	// 4. Refused requests whose names, values, paths and headers carry
	// markers: every one must be a problem without the marker.
	cursor := c.firstCursor("/observations?patient_id=" + pid + "&limit=2")
	bad := []struct {
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"GET", "/patients?ZQXCANARY-PARAM-7731=1", nil, 400},
		{"GET", "/patients?ZQXCANARY-PARAM-7731", nil, 400},
		{"GET", "/patients?zqxcanary-lowparam-7731=x", nil, 400},
		{"GET", "/patients?name=ZQXCANARY-DUP-7731&name=ZQXCANARY-DUP-7731", nil, 400},
		{"GET", "/patients?birth_date=ZQXCANARY-DATE-7731", nil, 400},
		{"GET", "/patients?updated_gte=ZQXCANARY-DATE-7731", nil, 400},
		{"GET", "/patients?limit=ZQXCANARY-LIMIT-7731", nil, 400},
		{"GET", "/patients?fields=ZQXCANARY-FIELD-7731", nil, 400},
		{"GET", "/patients?raw=ZQXCANARY-RAW-7731", nil, 400},
		{"GET", "/patients?name=" + url.QueryEscape("ZQXCANARY-CTRL-7731\x00\x01"), nil, 400},
		{"GET", "/patients?name=" + strings.Repeat("ZQXCANARY-LONG-7731", 200), nil, 400},
		{"GET", "/observations?patient_id=" + url.QueryEscape("ZQXCANARY-PID-7731$bad"), nil, 400},
		{"GET", "/observations?code=" + url.QueryEscape("ZQXCANARY|"), nil, 400},
		{"GET", "/observations", nil, 400}, // missing the required patient_id
		{"GET", "/patients?cursor=ZQXCANARY-CURSOR-7731", nil, 400},
		{"GET", "/observations?cursor=" + url.QueryEscape(cursor) + "&patient_id=ZQXCANARY-PID-7731", nil, 400},
		{"GET", "/patients?cursor=" + url.QueryEscape(cursor), nil, 400}, // another resource's cursor
		{"GET", "/patients/ZQXCANARY-ID-7731", nil, 404},
		{"GET", "/patients/ZQXCANARY-ID-7731%24%21", nil, 400},
		{"GET", "/patients/ZQXCANARY..ID..7731" + strings.Repeat("9", 80), nil, 400},
		{"GET", "/patients/" + pid + "?ZQXCANARY-PARAM-7731=1", nil, 400},
		{"GET", "/patients/" + pid + "?name=ZQXCANARY-FAMILY-7731", nil, 400},
		{"GET", "/ZQXCANARY-RESOURCE-7731", nil, 404},
		{"GET", "/ZQXCANARY-RESOURCE-7731/ZQXCANARY-ID-7731", nil, 404},
		{"DELETE", "/patients/ZQXCANARY-ID-7731", nil, 405},
		{"GET", "/passthrough/..%2FZQXCANARY-PATH-7731", nil, 404},
		{"GET", "/passthrough/" + url.PathEscape("http://127.0.0.1:1/ZQXCANARY-ABS-7731"), nil, 400},
		{"GET", "/patients/" + pid, map[string]string{"Authorization": "Bearer ZQXCANARY-APIKEY-7731"}, 401},
		{"GET", "/patients?name=ZQXCANARY-FAMILY-7731", map[string]string{"Authorization": ""}, 401},
	}
	for _, b := range bad {
		r := c.do(b.method, c.conn+b.path, b.hdr, "")
		if r.status < 400 {
			t.Errorf("%s %.80s: %d, want an error", b.method, b.path, r.status)
		} else if r.status != b.want {
			t.Logf("%s %.80s: %d (%s), expected %d", b.method, b.path, r.status, r.problemCode, b.want)
		}
	}
	// A declared purpose of use is recorded in the audit event: only a
	// code of the HL7 vocabulary may get there, never a client's free text.
	for _, pou := range []string{"ZQXCANARY-POU-7731", "ZQXCANARYPOU7731", "TREAT"} {
		if r := c.do("GET", c.conn+"/patients/"+pid, map[string]string{"X-Purpose-Of-Use": pou}, ""); r.status != 200 {
			t.Errorf("read with X-Purpose-Of-Use %s: %d %s", pou, r.status, r.body)
		}
	}
	r := c.do("GET", "/v1/ZQXCANARY-CONN-7731/patients?name=ZQXCANARY-FAMILY-7731", nil, "")
	if r.status < 400 {
		t.Errorf("unknown connection: %d", r.status)
	}
	checkCanaryAuthorization(t, c, pid, capab)
	metricsUp := c.metrics(f.admin)

	// 5. The source fails: every kind of request again, now on error paths
	// that may be tempted to log what they were asked.
	peer.Stop()
	for _, p := range []string{
		"/patients/" + pid,
		"/patients/" + pid + "?raw=true",
		"/patients?name=ZQXCANARY-FAMILY-7731",
		"/patients?identifier=ZQXCANARY-IDMR-7731",
		"/observations?patient_id=" + pid,
		"/observations?cursor=" + url.QueryEscape(cursor),
		"/documents?patient_id=" + pid,
		"/passthrough/Patient/" + pid,
		"/passthrough/Patient?name=ZQXCANARY-FAMILY-7731",
	} {
		if r := c.do("GET", c.conn+p, nil, ""); r.status < 500 {
			t.Errorf("with the source down, %s answered %d", p, r.status)
		}
	}
	metricsDown := c.metrics(f.admin)

	// Stop Ferry: the final checkpoint and every queued event reach stdout.
	f.stop(t)
	elapsed := time.Since(start)

	// 6. The canary did reach Ferry: successful answers carried markers from
	// every kind of place, so their absence elsewhere means something.
	for _, m := range []string{
		"ZQXCANARY-FAMILY-7731", "ZQXCANARY-IDMR-7731", "ZQXCANARY-PHONE-7731", "ZQXCANARY-ADDRLINE-7731",
		"ZQXCANARY-NARRATIVE-7731", "ZQXCANARY-CONDNOTE-7731", "ZQXCANARY-OBSVALUE-7731", "ZQXCANARY-OBSNOTE-7731",
		"ZQXCANARY-CONCLUSION-7731", "ZQXCANARY-DOCDESC-7731", "ZQXCANARY-DOCTITLE-7731", "ZQXCANARY-APPTDESC-7731",
		"ZQXCANARY-SUBSCRIBERID-7731", "ZQXCANARY-LOCNAME-7731", "ZQXCANARY-PRACFAMILY-7731", "ZQXCANARY-ORGNAME-7731",
		"ZQXCANARY-LOTNUMBER-7731", "ZQXCANARY-DOSAGE-7731", "ZQXCANARY-ALLERGYNOTE-7731",
		"ZQXCANARY-WDESC-7731", "ZQXCANARY-WNAME-7731", "ZQXCANARY-WTITLE-7731",
	} {
		if !c.markersSeen[m] {
			t.Errorf("marker %s never appeared in a successful response: the canary is not exercised", m)
		}
	}

	// 7. Nothing PHI-bearing in any of Ferry's outputs.
	stdout, stderr := f.stdout.String(), f.stderr.String()
	outputs := []struct{ name, text string }{
		{"stdout (audit)", stdout}, {"stderr (logs)", stderr},
		{"metrics (source up)", metricsUp}, {"metrics (source down)", metricsDown},
	}
	for _, e := range c.exposed {
		outputs = append(outputs, struct{ name, text string }{e.where, e.text})
	}
	for _, o := range outputs {
		if found := findNeedles(o.text, c.needles); len(found) > 0 {
			t.Errorf("PHI in %s: %q\n%s", o.name, found, excerpt(o.text, found[0]))
		}
	}

	// 8. Audit: one event per request (checkpoints aside), and the stream
	// verifies with the ferry binary.
	events := auditEvents(t, stdout)
	if events != c.sent {
		t.Errorf("%d audit events for %d requests", events, c.sent)
	}
	verifyAudit(t, stdout, 0)

	// 9. No file written: the strace record, and the read-only working
	// directory still empty.
	trace, err := os.ReadFile(f.trace)
	if err != nil {
		t.Fatal(err)
	}
	writes, allowed := fileWrites(string(trace), f.allow())
	for _, w := range writes {
		t.Errorf("ferry wrote to the file system: %s", w)
	}
	if len(writes) > 0 {
		t.Logf("strace record:\n%s", trace)
	}
	for why, n := range allowed {
		t.Logf("allowed %d× %s", n, why)
	}
	if found := findNeedles(string(trace), []string{canaryPrefix}); len(found) > 0 {
		t.Errorf("a traced path carries a marker:\n%s", excerpt(string(trace), found[0]))
	}
	if ents, _ := os.ReadDir(f.cwd); len(ents) > 0 {
		t.Errorf("the working directory is no longer empty: %v", ents)
	}

	// 10. The checks above can fail: each finds what is planted in a copy
	// of what this run captured.
	checkTheCheckers(t, stdout, stderr, string(trace), f)

	t.Logf("%d requests (%d problems), %d records of %d resources, %d markers planted, %d audit events, %d traced calls; %s",
		c.sent, c.problems, records, len(capab.Resources), len(markers), events, strings.Count(string(trace), "\n"),
		elapsed.Round(time.Millisecond))
}

// buildCanaryBundle writes, under the test's temporary directory, a
// transaction Bundle made of the Synthea patient with markers injected and
// the entries of testdata/canary/extra-entries.json, and returns its path
// and the markers it carries.
func buildCanaryBundle(t *testing.T) (string, []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "synthea", canarySynthea))
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	entries := b["entry"].([]any)
	first := map[string]map[string]any{}
	var fullURL = map[string]string{}
	var observations []map[string]any
	for _, e := range entries {
		e := e.(map[string]any)
		r := e["resource"].(map[string]any)
		typ := r["resourceType"].(string)
		if typ == "Observation" {
			observations = append(observations, r)
		}
		if first[typ] == nil {
			first[typ] = r
			fullURL[typ] = e["fullUrl"].(string)
		}
	}
	for _, typ := range []string{"Patient", "Organization", "Practitioner", "Encounter", "Condition", "Observation",
		"DiagnosticReport", "MedicationRequest", "Immunization", "Procedure", "AllergyIntolerance"} {
		if first[typ] == nil {
			t.Fatalf("%s has no %s", canarySynthea, typ)
		}
	}
	narrative := func(m string) map[string]any {
		return map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">` + m + `</div>`}
	}
	note := func(m string) []any { return []any{map[string]any{"text": m}} }

	p := first["Patient"]
	p["text"] = narrative("ZQXCANARY-NARRATIVE-7731")
	p["name"] = []any{
		map[string]any{"use": "official", "family": "ZQXCANARY-FAMILY-7731", "given": []any{"ZQXCANARY-GIVEN-7731"},
			"prefix": []any{"ZQXCANARY-PREFIX-7731"}, "text": "ZQXCANARY-NAMETEXT-7731"},
		map[string]any{"use": "maiden", "family": "ZQXCANARY-MAIDEN-7731"},
	}
	for _, id := range p["identifier"].([]any) {
		id := id.(map[string]any)
		code := "SYNTHEA"
		if ty, ok := id["type"].(map[string]any); ok {
			code = ty["coding"].([]any)[0].(map[string]any)["code"].(string)
		}
		id["value"] = "ZQXCANARY-ID" + code + "-7731"
	}
	p["identifier"] = append(p["identifier"].([]any), map[string]any{
		"system": "https://canary.example/mrn", "value": "ZQXCANARY-MRN-7731", "type": map[string]any{"text": "ZQXCANARY-IDTYPE-7731"},
	})
	p["telecom"] = []any{
		map[string]any{"system": "phone", "value": "ZQXCANARY-PHONE-7731", "use": "home"},
		map[string]any{"system": "email", "value": "ZQXCANARY-EMAIL-7731@example.org"},
	}
	p["address"] = []any{map[string]any{"use": "home", "line": []any{"ZQXCANARY-ADDRLINE-7731"}, "city": "ZQXCANARY-CITY-7731",
		"district": "ZQXCANARY-DISTRICT-7731", "state": "Massachusetts", "postalCode": "ZQXCANARY-ZIP-7731", "country": "US"}}
	p["contact"] = []any{map[string]any{"name": map[string]any{"family": "ZQXCANARY-CONTACT-7731"},
		"telecom": []any{map[string]any{"system": "phone", "value": "ZQXCANARY-CONTACTPHONE-7731"}}}}
	for _, x := range p["extension"].([]any) {
		x := x.(map[string]any)
		if strings.HasSuffix(x["url"].(string), "patient-mothersMaidenName") {
			x["valueString"] = "ZQXCANARY-MOTHERSMAIDEN-7731"
		}
	}

	o := first["Organization"]
	o["name"] = "ZQXCANARY-ORGNAME-7731"
	o["alias"] = []any{"ZQXCANARY-ORGALIAS-7731"}
	o["telecom"] = []any{map[string]any{"system": "phone", "value": "ZQXCANARY-ORGPHONE-7731"}}

	pr := first["Practitioner"]
	pr["name"] = []any{map[string]any{"family": "ZQXCANARY-PRACFAMILY-7731", "given": []any{"ZQXCANARY-PRACGIVEN-7731"}}}
	pr["telecom"] = []any{map[string]any{"system": "email", "value": "ZQXCANARY-PRACEMAIL-7731@example.org"}}

	enc := first["Encounter"]
	enc["text"] = narrative("ZQXCANARY-ENCNARRATIVE-7731")
	enc["reasonCode"] = []any{map[string]any{"text": "ZQXCANARY-ENCREASON-7731"}}
	enc["participant"].([]any)[0].(map[string]any)["individual"].(map[string]any)["display"] = "ZQXCANARY-ENCPRACDISPLAY-7731"

	cond := first["Condition"]
	cond["note"] = note("ZQXCANARY-CONDNOTE-7731")
	cond["code"].(map[string]any)["text"] = "ZQXCANARY-CONDTEXT-7731"
	cond["text"] = narrative("ZQXCANARY-CONDNARRATIVE-7731")

	obs := observations[0]
	obs["note"] = note("ZQXCANARY-OBSNOTE-7731")
	obs["text"] = narrative("ZQXCANARY-OBSNARRATIVE-7731")
	valued := observations[1]
	for k := range valued {
		if strings.HasPrefix(k, "value") {
			delete(valued, k)
		}
	}
	valued["valueString"] = "ZQXCANARY-OBSVALUE-7731"

	dr := first["DiagnosticReport"]
	dr["conclusion"] = "ZQXCANARY-CONCLUSION-7731"
	dr["presentedForm"] = []any{map[string]any{"contentType": "text/plain", "title": "ZQXCANARY-DRFORMTITLE-7731",
		"data": base64.StdEncoding.EncodeToString([]byte("ZQXCANARY-DRFORMBODY-7731"))}}
	if res, ok := dr["result"].([]any); ok && len(res) > 0 {
		res[0].(map[string]any)["display"] = "ZQXCANARY-DRRESULTDISPLAY-7731"
	}

	med := first["MedicationRequest"]
	med["dosageInstruction"] = []any{map[string]any{"sequence": 1, "text": "ZQXCANARY-DOSAGE-7731",
		"patientInstruction": "ZQXCANARY-PATIENTINSTRUCTION-7731"}}
	med["note"] = note("ZQXCANARY-MEDNOTE-7731")

	imm := first["Immunization"]
	imm["lotNumber"] = "ZQXCANARY-LOTNUMBER-7731"
	imm["note"] = note("ZQXCANARY-IMMNOTE-7731")

	proc := first["Procedure"]
	proc["note"] = note("ZQXCANARY-PROCNOTE-7731")
	proc["code"].(map[string]any)["text"] = "ZQXCANARY-PROCTEXT-7731"

	al := first["AllergyIntolerance"]
	al["note"] = note("ZQXCANARY-ALLERGYNOTE-7731")
	al["reaction"] = []any{map[string]any{"description": "ZQXCANARY-REACTIONDESC-7731",
		"manifestation": []any{map[string]any{"text": "ZQXCANARY-MANIFESTATION-7731"}}}}

	extra, err := os.ReadFile(filepath.Join("..", "..", "testdata", "canary", "extra-entries.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"Patient", "Encounter", "Practitioner", "Organization"} {
		extra = bytes.ReplaceAll(extra, []byte("{{"+strings.ToUpper(typ)+"}}"), []byte(fullURL[typ]))
	}
	var x struct {
		Entry []any `json:"entry"`
	}
	if err := json.Unmarshal(extra, &x); err != nil {
		t.Fatalf("extra-entries.json: %v", err)
	}
	b["entry"] = append(entries, x.Entry...)

	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("{{")) {
		t.Fatal("a placeholder in extra-entries.json was not replaced")
	}
	path := filepath.Join(t.TempDir(), "canary-bundle.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	var markers []string
	for _, m := range markerRE.FindAllString(string(out), -1) {
		if !slices.Contains(markers, m) {
			markers = append(markers, m)
		}
	}
	return path, markers
}

// tracedFerry is `ferry serve` run under strace from a read-only directory.
type tracedFerry struct {
	*proc
	listen, admin string
	trace         string // strace's output file
	cwd           string // the read-only working directory
	hostTmp       string // TMPDIR given to ferry
	ferryPID      int
	exited        chan struct{}
}

// startTracedFerry starts strace, which starts ferry; ferry starts the
// plugin, which strace follows too (-f). As root, capabilities are dropped
// (setpriv) so that the 0555 working directory binds ferry as it would bind
// any other user. mods change the config before it is written (the feed
// canary adds its connection and webhook).
func startTracedFerry(t *testing.T, sourceURL string, mods ...func(cfg map[string]any)) *tracedFerry {
	t.Helper()
	dir := t.TempDir()
	f := &tracedFerry{
		proc:   &proc{stdout: &lockedBuf{}, stderr: &lockedBuf{}},
		listen: freePort(t), admin: freePort(t),
		trace:   filepath.Join(dir, "strace.out"),
		cwd:     filepath.Join(dir, "readonly-cwd"),
		hostTmp: filepath.Join(dir, "tmp"),
		exited:  make(chan struct{}),
	}
	cfg := writeConfig(t, sourceURL, f.listen, f.admin)
	rawCfg, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(rawCfg, &m); err != nil {
		t.Fatal(err)
	}
	conn := m["connections"].([]any)[0].(map[string]any)
	conn["settings"] = map[string]any{"patient_search": "subject"}
	m["clients"] = append(m["clients"].([]any), canaryResearchClient())
	for _, mod := range mods {
		mod(m)
	}
	rawCfg, _ = json.Marshal(m)
	if err := os.WriteFile(cfg, rawCfg, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{f.cwd, f.hostTmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(f.cwd, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(f.cwd, 0o755) })

	var wrap []string
	if os.Geteuid() == 0 {
		sp, err := exec.LookPath("setpriv")
		if err != nil {
			t.Fatalf("running as root, the read-only working directory needs setpriv (util-linux) to drop capabilities: %v", err)
		}
		wrap = []string{sp, "--bounding-set=-all", "--inh-caps=-all"}
	}
	// The guard is real: the same wrapper cannot create a file there.
	probe := exec.Command("/bin/sh", "-c", ": > probe")
	if len(wrap) > 0 {
		probe = exec.Command(wrap[0], append(wrap[1:], "/bin/sh", "-c", ": > probe")...)
	}
	probe.Dir = f.cwd
	if err := probe.Run(); err == nil {
		t.Fatalf("%s is writable despite mode 0555: the read-only check would prove nothing", f.cwd)
	}

	args := append(wrap, straceBin, "-f", "-qq", "--seccomp-bpf", "-y", "-e", "signal=none",
		"-e", "trace="+straceSyscalls, "-o", f.trace,
		filepath.Join(binaries(t), "ferry"), "serve", "--config", cfg)
	f.cmd = exec.Command(args[0], args[1:]...)
	f.cmd.Dir = f.cwd
	f.cmd.Env = append(slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "TMPDIR=") }),
		"TMPDIR="+f.hostTmp)
	f.cmd.Stdout, f.cmd.Stderr = f.stdout, f.stderr
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = f.cmd.Wait(); close(f.exited) }()
	t.Cleanup(func() {
		f.signal(syscall.SIGTERM)
		select {
		case <-f.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
			<-f.exited
		}
		if t.Failed() {
			t.Logf("ferry stderr:\n%s", f.stderr.String())
		}
	})
	waitHTTP(t, "http://"+f.admin+"/readyz", 200, 60*time.Second)
	kids := childPIDs(t, f.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("strace has children %v, want ferry alone", kids)
	}
	f.ferryPID = kids[0]
	return f
}

func (f *tracedFerry) signal(s syscall.Signal) {
	select {
	case <-f.exited:
		return
	default:
	}
	if f.ferryPID != 0 {
		_ = syscall.Kill(f.ferryPID, s)
	} else {
		_ = syscall.Kill(-f.cmd.Process.Pid, s)
	}
}

// stop ends ferry with SIGTERM, as an orchestrator would, and waits for it
// (and so strace) to exit cleanly.
func (f *tracedFerry) stop(t *testing.T) {
	t.Helper()
	f.signal(syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("ferry did not exit within 30s of SIGTERM")
	}
	if code := f.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("ferry (under strace) exited with %d", code)
	}
}

// allowRule is a file-system change Ferry may make, and why.
type allowRule struct {
	why   string
	match func(call, path string) bool
}

// allow returns the allowlist for this run. go-plugin listens on Unix
// sockets, and for a plugin started through a RunnerFunc (the host's
// kernel sandbox) it keeps them in one private directory per plugin start,
// which the host makes (mkdir 0700) in its TMPDIR (here the test's
// directory) and removes with its contents when the plugin stops: the
// plugin's gRPC server (the control plane; protocol v2 lends no service
// over go-plugin's broker) reserves a random name there with os.CreateTemp (an empty file,
// O_RDWR|O_CREAT|O_EXCL), close and remove it, bind a socket there, and
// remove the socket when the listener closes. No byte is written to any of
// them: socket traffic goes through kernel buffers (and the plugin's
// RLIMIT_FSIZE is 0).
func (f *tracedFerry) allow() []allowRule {
	pluginSock := regexp.MustCompile(`^plugin[0-9]+$`)
	socketDir := regexp.MustCompile(`^plugin-dir[0-9]+$`)
	inSocketDir := func(path string) bool {
		d := filepath.Dir(path)
		return filepath.Dir(d) == f.hostTmp && socketDir.MatchString(filepath.Base(d))
	}
	return []allowRule{
		{"/dev/null, opened by os/exec for a child's unset standard streams (a device, stores nothing)",
			func(call, path string) bool { return path == "/dev/null" && strings.HasPrefix(call, "open") }},
		{"go-plugin's private socket directory of a plugin start in ferry's TMPDIR (made 0700, removed when the plugin stops)",
			func(call, path string) bool {
				return filepath.Dir(path) == f.hostTmp && socketDir.MatchString(filepath.Base(path)) &&
					(strings.HasPrefix(call, "mkdir") || strings.HasPrefix(call, "unlink") || strings.HasPrefix(call, "rmdir"))
			}},
		{"go-plugin's Unix socket in that directory: the plugin's gRPC server, the control plane (reserved, removed, bound, unlinked)",
			func(call, path string) bool {
				return inSocketDir(path) && pluginSock.MatchString(filepath.Base(path)) &&
					(strings.HasPrefix(call, "open") || strings.HasPrefix(call, "unlink") || call == "bind")
			}},
	}
}

var (
	straceLineRE = regexp.MustCompile(`^(\d+)\s+([a-z0-9_]+)\((.*)$`)
	quotedRE     = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	dirfdRE      = regexp.MustCompile(`^(?:AT_FDCWD|\d+)<([^>]*)>`)
	fdPathRE     = regexp.MustCompile(`^\d+<([^>]*)>`)
)

// fileWrites reads an strace record and returns every call that creates,
// writes, truncates, renames, links or removes a file and no allow rule
// covers, as "pid call path (line)", and how often each rule allowed one.
func fileWrites(trace string, rules []allowRule) ([]string, map[string]int) {
	var out []string
	allowed := map[string]int{}
	for _, line := range strings.Split(trace, "\n") {
		m := straceLineRE.FindStringSubmatch(line)
		if m == nil {
			continue // "<... resumed>" halves: the unfinished half had the arguments
		}
		call, args := m[2], m[3]
		var paths []string
		write := false
		switch call {
		case "open", "openat", "openat2", "creat":
			q := quotedRE.FindStringSubmatch(args)
			if q == nil {
				continue
			}
			paths = []string{q[1]}
			rest := args[strings.Index(args, q[0])+len(q[0]):]
			if i := strings.Index(rest, ") = "); i >= 0 {
				rest = rest[:i]
			}
			write = call == "creat"
			for _, fl := range []string{"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND", "O_TMPFILE"} {
				write = write || strings.Contains(rest, fl)
			}
		case "ftruncate":
			write = true
			if p := fdPathRE.FindStringSubmatch(args); p != nil {
				paths = []string{p[1]}
			}
		case "bind":
			// A Unix socket with a path creates a node; abstract ones
			// (sun_path=@"…") and IP sockets do not.
			i := strings.Index(args, `sun_path="`)
			if !strings.Contains(args, "AF_UNIX") || i < 0 {
				continue
			}
			write = true
			if q := quotedRE.FindStringSubmatch(args[i:]); q != nil {
				paths = []string{q[1]}
			}
		default: // rename*, link*, unlink*, mkdir*, truncate, symlink*, mknod*
			write = true
			for _, q := range quotedRE.FindAllStringSubmatch(args, -1) {
				paths = append(paths, q[1])
			}
		}
		if !write {
			continue
		}
		if d := dirfdRE.FindStringSubmatch(args); d != nil {
			for i, p := range paths {
				if !filepath.IsAbs(p) {
					paths[i] = filepath.Join(d[1], p)
				}
			}
		}
		if len(paths) == 0 {
			paths = []string{"?"}
		}
	paths:
		for _, p := range paths {
			for _, r := range rules {
				if r.match(call, p) {
					allowed[r.why]++
					continue paths
				}
			}
			out = append(out, fmt.Sprintf("pid %s %s %s (%s)", m[1], call, p, line))
			break
		}
	}
	return out, allowed
}

// canaryClient sends the test's requests to Ferry's API, counts them, and
// keeps what Ferry itself wrote (problem bodies, every response's headers)
// for the PHI check at the end, when every id to look for is known.
type canaryClient struct {
	t           *testing.T
	root, conn  string
	needles     []string
	sent        int
	problems    int
	markersSeen map[string]bool
	exposed     []exposed
}

type exposed struct{ where, text string }

type canaryResp struct {
	status      int
	body        []byte
	header      http.Header
	problemCode unified.Code
}

var canaryHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *canaryClient) do(method, path string, hdr map[string]string, body string) canaryResp {
	c.t.Helper()
	req, err := http.NewRequest(method, c.root+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatalf("%s %.100s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	c.sent++
	resp, err := canaryHTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %.100s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %.100s: reading body: %v", method, path, err)
	}
	r := canaryResp{status: resp.StatusCode, body: b, header: resp.Header}
	what := fmt.Sprintf("%s %.100s → %d", method, path, resp.StatusCode)
	var h strings.Builder
	for k, vs := range resp.Header {
		for _, v := range vs {
			fmt.Fprintf(&h, "%s: %s\n", k, v)
		}
	}
	c.exposed = append(c.exposed, exposed{"response headers of " + what, h.String()})
	isPassthrough := strings.HasPrefix(path, c.conn+"/passthrough/")
	switch ct := resp.Header.Get("Content-Type"); {
	case strings.HasPrefix(ct, "application/problem+json"):
		c.problems++
		var p unified.Problem
		if err := json.Unmarshal(b, &p); err != nil || p.Status != resp.StatusCode || p.Code == "" {
			c.t.Errorf("%s: malformed problem body %q (%v)", what, b, err)
		}
		r.problemCode = p.Code
		c.exposed = append(c.exposed, exposed{"problem body of " + what, string(b)})
	case resp.StatusCode >= 400 && !isPassthrough:
		// Only passthrough relays a source's own error answer.
		c.t.Errorf("%s without problem+json (%q): %.200s", what, ct, b)
		c.exposed = append(c.exposed, exposed{"error body of " + what, string(b)})
	case resp.StatusCode < 300:
		for _, m := range markerRE.FindAllString(string(b), -1) {
			c.markersSeen[m] = true
		}
	}
	return r
}

// searchAll runs a search and follows its cursors to the end, returning the
// record ids.
func (c *canaryClient) searchAll(resource string, q url.Values) []string {
	c.t.Helper()
	next := c.conn + "/" + resource + "?" + q.Encode()
	var ids []string
	for pages := 0; next != ""; pages++ {
		if pages > 100 {
			c.t.Fatalf("%s: paging does not end", resource)
		}
		r := c.do("GET", next, nil, "")
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			NextCursor string `json:"next_cursor"`
		}
		if r.status != 200 || json.Unmarshal(r.body, &page) != nil {
			c.t.Fatalf("search %s: %d %.300s", next, r.status, r.body)
		}
		for _, d := range page.Data {
			ids = append(ids, d.ID)
		}
		next = ""
		if page.NextCursor != "" {
			next = c.conn + "/" + resource + "?cursor=" + url.QueryEscape(page.NextCursor)
		}
	}
	return ids
}

// firstCursor runs a search expected to have a second page and returns its
// cursor.
func (c *canaryClient) firstCursor(path string) string {
	c.t.Helper()
	r := c.do("GET", c.conn+path, nil, "")
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &page) != nil || page.NextCursor == "" {
		c.t.Fatalf("%s: no cursor: %d %.300s", path, r.status, r.body)
	}
	return page.NextCursor
}

func (c *canaryClient) metrics(admin string) string {
	c.t.Helper()
	status, body := get(c.t, "http://"+admin+"/metrics", "")
	if status != 200 || !bytes.Contains(body, []byte("ferry_")) {
		c.t.Fatalf("/metrics: %d %.300s", status, body)
	}
	return string(body)
}

// findNeedles returns the needles text contains, ignoring case.
func findNeedles(text string, needles []string) []string {
	lower := strings.ToLower(text)
	var found []string
	for _, n := range needles {
		if n != "" && strings.Contains(lower, strings.ToLower(n)) {
			found = append(found, n)
		}
	}
	return found
}

// excerpt shows where needle first occurs in text.
func excerpt(text, needle string) string {
	i := strings.Index(strings.ToLower(text), strings.ToLower(needle))
	if i < 0 {
		return ""
	}
	lo, hi := max(0, i-200), min(len(text), i+len(needle)+200)
	return "…" + text[lo:hi] + "…"
}

// auditEvents checks that every stdout line is an audit event and returns
// how many are not checkpoints.
func auditEvents(t *testing.T, stdout string) int {
	t.Helper()
	n, checkpoints := 0, 0
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var ev struct {
			Action    string `json:"action"`
			RequestID string `json:"request_id"`
			ChainID   string `json:"chain_id"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Action == "" || ev.ChainID == "" {
			t.Errorf("stdout line is not an audit event: %.200q", line)
			continue
		}
		if ev.Action == "checkpoint" {
			checkpoints++
			continue
		}
		n++
	}
	if checkpoints == 0 {
		t.Error("no checkpoint in the audit stream: the final one at shutdown is missing")
	}
	return n
}

// verifyAudit runs `ferry audit verify -` on stream and checks its exit code.
func verifyAudit(t *testing.T, stream string, want int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "ferry"), "audit", "verify", "-")
	cmd.Stdin = strings.NewReader(stream)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Errorf("ferry audit verify exited %d, want %d:\n%s", code, want, out)
	}
}

// checkTheCheckers plants a leak or a write in copies of what this run
// captured and checks that each check finds it, so a check that passes
// above passes because there was nothing to find.
func checkTheCheckers(t *testing.T, stdout, stderr, trace string, f *tracedFerry) {
	t.Helper()
	needles := []string{canaryPrefix}
	for _, planted := range []struct{ name, text string }{
		{"a log line", stderr + `{"level":"ERROR","msg":"upstream failed","url":"/Patient?name=ZQXCANARY-FAMILY-7731"}` + "\n"},
		{"a lower-cased marker in the audit", strings.Replace(stdout, `"route":"`, `"route":"zqxcanary-family-7731`, 1)},
		{"a problem detail", `{"code":"invalid_parameter","detail":"ZQXCANARY-PARAM-7731"}`},
	} {
		if len(findNeedles(planted.text, needles)) == 0 {
			t.Errorf("the PHI check misses %s", planted.name)
		}
	}

	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) > 3 {
		deleted := strings.Join(append(slices.Clone(lines[:1]), lines[2:]...), "\n") + "\n"
		verifyAudit(t, deleted, 1)
	}
	if n := auditEvents(t, stdout+stdout); n == auditEvents(t, stdout) {
		t.Error("the event count does not see extra events")
	}

	pid := "4242"
	for _, w := range []string{
		pid + ` openat(AT_FDCWD<` + f.cwd + `>, "audit.jsonl", O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0666) = -1 EACCES (Permission denied)`,
		pid + ` openat(AT_FDCWD</>, "/tmp/ferry-spool-1", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 7</tmp/ferry-spool-1>`,
		pid + ` creat("/var/tmp/x", 0600) = 7</var/tmp/x>`,
		pid + ` renameat(AT_FDCWD</>, "/tmp/a", AT_FDCWD</>, "/tmp/b") = 0`,
		pid + ` unlinkat(AT_FDCWD</>, "/etc/ferry.json", 0) = 0`,
		pid + ` mkdirat(AT_FDCWD</>, "/tmp/plugin-dir123", 0700) = 0`,
		pid + ` openat(AT_FDCWD</>, "` + f.hostTmp + `/plugin-dir5/cache", O_RDWR|O_CREAT, 0600) = 7`,
		pid + ` mkdirat(AT_FDCWD</>, "` + f.hostTmp + `/plugin-dir5/sub", 0700) = 0`,
		pid + ` ftruncate(7</tmp/cache.db>, 0) = 0`,
		pid + ` bind(3<socket:[1]>, {sa_family=AF_UNIX, sun_path="/var/run/ferry.sock"}, 110) = 0`,
		pid + ` openat(AT_FDCWD</>, "/tmp/plugin123/../../etc/passwd", O_WRONLY) = 3`,
	} {
		if got, _ := fileWrites(trace+w+"\n", f.allow()); len(got) != 1 {
			t.Errorf("the write check finds %d writes in a trace with this one planted: %s", len(got), w)
		}
	}
	for _, ok := range []string{
		pid + ` openat(AT_FDCWD</>, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 7</etc/hosts>`,
		pid + ` bind(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}, 16) = 0`,
		pid + ` openat(AT_FDCWD</>, "` + f.hostTmp + `/plugin-dir5/plugin99", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 7<` + f.hostTmp + `/plugin-dir5/plugin99>`,
		pid + ` mkdirat(AT_FDCWD</>, "` + f.hostTmp + `/plugin-dir5", 0700) = 0`,
	} {
		if got, _ := fileWrites(ok+"\n", f.allow()); len(got) != 0 {
			t.Errorf("the write check flags a harmless call: %s → %v", ok, got)
		}
	}
}
