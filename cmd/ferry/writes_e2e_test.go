package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// Writes through the real binary and the FHIR plugin, against Medplum's
// FHIR router (which validates what it is sent). Run alone with
//
//	make build && FERRY_BIN=$PWD/bin go test ./cmd/ferry -run TestWrites -v

// faultProxy stands between Ferry and Medplum. Armed, it lets the next POST
// reach Medplum (which commits it) and then holds the answer until Ferry
// has given up: the one fault a real peer cannot produce on demand, an
// answer lost after the source's commit.
type faultProxy struct {
	rp   *httputil.ReverseProxy
	lose atomic.Bool
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && f.lose.CompareAndSwap(true, false) {
		rec := httptest.NewRecorder()
		f.rp.ServeHTTP(rec, r)
		<-r.Context().Done() // Ferry's deadline passed; the answer is lost
		return
	}
	f.rp.ServeHTTP(w, r)
}

type writeEnv struct {
	t     *testing.T
	base  string // http://host/v1/demo
	peer  *testpeer.Medplum
	fault *faultProxy
	ferry *proc
}

func startWrites(t *testing.T) *writeEnv {
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	target, _ := url.Parse(peer.BaseURL)
	target.Path = ""
	fp := &faultProxy{rp: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(fp)
	t.Cleanup(front.Close)
	listen, admin := freePort(t), freePort(t)
	cfgPath := writeConfig(t, front.URL+"/fhir/R4", listen, admin)
	// 50 concurrent creates must all reach the connection: the default
	// bulkhead (32) would refuse some, as it should.
	var cfg map[string]any
	_ = json.Unmarshal(mustRead(t, cfgPath), &cfg)
	cfg["connections"].([]any)[0].(map[string]any)["limits"] = map[string]any{"max_concurrent": 64}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFerry(t, "serve", "--config", cfgPath)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	return &writeEnv{t: t, base: "http://" + listen + "/v1/demo", peer: peer, fault: fp, ferry: f}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (e *writeEnv) send(method, path string, body any, hdr ...string) answer {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		r = bytes.NewReader(writeBody(b))
	}
	req, _ := http.NewRequest(method, e.base+path, r)
	req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// writeBody is a unified record as a write body: without the members the
// source assigns, which a Go value of a unified type always carries.
func writeBody(v any) []byte {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	delete(m, "id")
	delete(m, "source")
	b, _ = json.Marshal(m)
	return b
}

// medplum reads a resource straight from the source.
func (e *writeEnv) medplum(path string) (int, map[string]any) {
	e.t.Helper()
	status, body := get(e.t, e.peer.BaseURL+"/"+path, "")
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return status, m
}

// count is how many resources of a FHIR type carry a test identifier.
func (e *writeEnv) count(fhirType, marker string) int {
	e.t.Helper()
	_, b := e.medplum(fhirType + "?identifier=urn:test|" + marker + "&_summary=count")
	n, _ := b["total"].(float64)
	return int(n)
}

func ptr[T any](v T) *T { return &v }

// writable are the records the round trip creates: one per writable
// resource, each with a test identifier to find it at the source by.
func writable(patient, marker string) map[string]any {
	pat := &unified.Reference{Resource: unified.Patients, ID: patient}
	id := []unified.Identifier{{System: "urn:test", Value: marker}}
	return map[string]any{
		"appointments": unified.Appointment{
			Identifiers: id, Status: "booked", Description: "Follow-up visit",
			Start: "2027-01-05T09:00:00Z", End: "2027-01-05T09:30:00Z", MinutesDuration: ptr(30), Patient: pat,
			ServiceTypes: []unified.CodeableConcept{{Text: "Follow-up"}},
			Participants: []unified.AppointmentParticipant{{Actor: pat, Required: "required", Status: "accepted"}},
		},
		"documents": unified.Document{
			Identifiers: id, Status: "current", DocStatus: "final", Description: "Progress note",
			Type:    &unified.CodeableConcept{Codings: []unified.Coding{{System: "http://loinc.org", Code: "11506-3", Display: "Progress note"}}},
			Patient: pat, Date: "2027-01-05T09:40:00Z",
			Contents: []unified.DocumentContent{{Attachment: unified.Attachment{ContentType: "text/plain; charset=utf-8", Title: "Note",
				Data: "UGF0aWVudCBDYW5hcnlub3RlIGZlZWxzIHdlbGwu"}}}, // "Patient Canarynote feels well."
		},
		"observations": unified.Observation{
			Identifiers: id, Status: "final", Patient: pat, EffectiveAt: "2027-01-05T09:10:00Z",
			Categories: []unified.CodeableConcept{{Codings: []unified.Coding{{System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "vital-signs"}}}},
			Code:       unified.CodeableConcept{Codings: []unified.Coding{{System: "http://loinc.org", Code: "85354-9", Display: "Blood pressure panel"}}},
			Components: []unified.ObservationComponent{
				{Code: unified.CodeableConcept{Codings: []unified.Coding{{System: "http://loinc.org", Code: "8480-6"}}},
					Value: &unified.Value{Type: "quantity", Quantity: &unified.Quantity{Value: ptr(120.0), Unit: "mmHg", System: "http://unitsofmeasure.org", Code: "mm[Hg]"}}},
				{Code: unified.CodeableConcept{Codings: []unified.Coding{{System: "http://loinc.org", Code: "8462-4"}}},
					Value: &unified.Value{Type: "quantity", Quantity: &unified.Quantity{Value: ptr(80.0), Unit: "mmHg", System: "http://unitsofmeasure.org", Code: "mm[Hg]"}}},
			},
		},
	}
}

// comparable drops what a read adds to a record or leaves out of it: the
// source's fields (id, source, updated_at), the coding system names Ferry
// recognises, and a document's content bytes (a read says inline).
func comparable(t *testing.T, v any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"id", "source", "updated_at"} {
		delete(m, k)
	}
	var strip func(any)
	strip = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			delete(x, "system_name")
			delete(x, "data")
			delete(x, "inline")
			for _, v := range x {
				strip(v)
			}
		case []any:
			for _, v := range x {
				strip(v)
			}
		}
	}
	strip(m)
	return m
}

func TestWritesAgainstMedplum(t *testing.T) {
	e := startWrites(t)
	patient := e.peer.PatientIDs[0]

	t.Run("round trip", func(t *testing.T) {
		for resource, rec := range writable(patient, "rt-1") {
			a := e.send("POST", "/"+resource, rec, "Idempotency-Key", "rt-"+resource)
			if a.status != 201 || a.header.Get("ETag") == "" || !strings.HasPrefix(a.header.Get("Location"), "/v1/demo/"+resource+"/") {
				t.Fatalf("create %s: %d %v %s", resource, a.status, a.header, a.body)
			}
			var created map[string]any
			_ = json.Unmarshal(a.body, &created)
			id, _ := created["id"].(string)
			back := e.send("GET", "/"+resource+"/"+id, nil)
			var got map[string]any
			_ = json.Unmarshal(back.body, &got)
			if back.status != 200 || back.header.Get("ETag") != a.header.Get("ETag") || !reflect.DeepEqual(comparable(t, got), comparable(t, rec)) {
				t.Fatalf("%s read back differs:\n got %v\nsent %v", resource, comparable(t, got), comparable(t, rec))
			}
			// At the source: valid FHIR (Medplum validated it), with Ferry's
			// identifier and digest, and not the client's key.
			fhirType := map[string]string{"appointments": "Appointment", "documents": "DocumentReference", "observations": "Observation"}[resource]
			status, res := e.medplum(fhirType + "/" + id)
			raw, _ := json.Marshal(res)
			if status != 200 || !bytes.Contains(raw, []byte("urn:ferry:idempotency-id")) || !bytes.Contains(raw, []byte("urn:ferry:body-digest")) ||
				bytes.Contains(raw, []byte("rt-"+resource)) {
				t.Fatalf("%s at the source: %d %s", resource, status, raw)
			}
		}
	})

	t.Run("appointment: reschedule, cancel, stale version", func(t *testing.T) {
		a := e.send("POST", "/appointments", writable(patient, "ap-1")["appointments"], "Idempotency-Key", "ap-1")
		var created unified.Appointment
		_ = json.Unmarshal(a.body, &created)
		v1 := a.header.Get("ETag")
		r := e.send("PATCH", "/appointments/"+created.ID, `{"start":"2027-01-06T10:00:00Z","end":"2027-01-06T10:30:00Z"}`, "If-Match", v1)
		var moved unified.Appointment
		_ = json.Unmarshal(r.body, &moved)
		if r.status != 200 || moved.Start != "2027-01-06T10:00:00Z" || moved.Description != "Follow-up visit" || r.header.Get("ETag") == v1 {
			t.Fatalf("reschedule: %d %s", r.status, r.body)
		}
		// The first version is stale now: 412 with the current ETag, and
		// the source is unchanged.
		stale := e.send("PATCH", "/appointments/"+created.ID, `{"status":"cancelled"}`, "If-Match", v1)
		if stale.status != 412 || stale.header.Get("ETag") != r.header.Get("ETag") || !bytes.Contains(stale.body, []byte(`"version_conflict"`)) {
			t.Fatalf("stale If-Match: %d %v %s", stale.status, stale.header, stale.body)
		}
		if _, res := e.medplum("Appointment/" + created.ID); res["status"] != "booked" {
			t.Fatalf("a refused update changed the source: %v", res["status"])
		}
		c := e.send("PATCH", "/appointments/"+created.ID, `{"status":"cancelled","cancelation_reason":{"text":"Patient request"}}`, "If-Match", r.header.Get("ETag"))
		if _, res := e.medplum("Appointment/" + created.ID); c.status != 200 || res["status"] != "cancelled" {
			t.Fatalf("cancel: %d %s / source %v", c.status, c.body, res["status"])
		}
	})

	t.Run("concurrent retries create one record", func(t *testing.T) {
		// Appointments: Medplum's in-memory repository scans every resource
		// of the type for the condition, and Synthea's patients bring
		// thousands of observations but no appointments.
		rec := writable(patient, "conc-1")["appointments"]
		var wg sync.WaitGroup
		ids := make([]string, 50)
		statuses := make([]int, 50)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := e.send("POST", "/appointments", rec, "Idempotency-Key", "conc-key")
				var o unified.Appointment
				_ = json.Unmarshal(a.body, &o)
				ids[i], statuses[i] = o.ID, a.status
			}()
		}
		wg.Wait()
		created := 0
		for i := range ids {
			if ids[i] == "" || ids[i] != ids[0] {
				t.Fatalf("answer %d: %d id %q, first %q", i, statuses[i], ids[i], ids[0])
			}
			if statuses[i] == 201 {
				created++
			}
		}
		if created != 1 || e.count("Appointment", "conc-1") != 1 {
			t.Fatalf("%d answers said created; %d at the source", created, e.count("Appointment", "conc-1"))
		}
		again := e.send("POST", "/appointments", rec, "Idempotency-Key", "conc-key")
		if again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %v", again.status, again.header)
		}
		// The same key for another body is refused, and writes nothing.
		other := writable(patient, "conc-2")["appointments"]
		reused := e.send("POST", "/appointments", other, "Idempotency-Key", "conc-key")
		if reused.status != 422 || !bytes.Contains(reused.body, []byte(`"idempotency_key_reused"`)) || e.count("Appointment", "conc-2") != 0 {
			t.Fatalf("reused key: %d %s", reused.status, reused.body)
		}
	})

	t.Run("answer lost after the commit", func(t *testing.T) {
		rec := writable(patient, "lost-1")["documents"]
		e.fault.lose.Store(true)
		a := e.send("POST", "/documents", rec, "Idempotency-Key", "lost-key", "X-Ferry-Timeout", "1s")
		if a.status != 504 || !bytes.Contains(a.body, []byte(`"retryable":true`)) {
			t.Fatalf("lost answer: %d %s", a.status, a.body)
		}
		if n := e.count("DocumentReference", "lost-1"); n != 1 {
			t.Fatalf("the source holds %d documents after the lost answer", n)
		}
		retry := e.send("POST", "/documents", rec, "Idempotency-Key", "lost-key")
		if retry.status != 200 || retry.header.Get("Idempotent-Replayed") != "true" || e.count("DocumentReference", "lost-1") != 1 {
			t.Fatalf("retry: %d %v %s", retry.status, retry.header, retry.body)
		}
	})

	t.Run("validation", func(t *testing.T) {
		before := len(e.peer.Requests(t))
		good := func() map[string]any {
			b := writeBody(writable(patient, "val")["appointments"])
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			return m
		}
		for _, c := range []struct {
			name   string
			change func(m map[string]any)
			paths  []string
		}{
			{"unknown field", func(m map[string]any) { m["colour"] = "red" }, []string{"$.colour"}},
			{"read-only fields", func(m map[string]any) { m["id"] = "x"; m["updated_at"] = "2027-01-01" }, []string{"$.id", "$.updated_at"}},
			{"missing required", func(m map[string]any) { delete(m, "start"); delete(m, "patient") }, []string{"$.patient", "$.start"}},
			{"wrong type", func(m map[string]any) { m["minutes_duration"] = "thirty" }, []string{"$.minutes_duration"}},
			{"bad date", func(m map[string]any) { m["end"] = "tomorrow" }, []string{"$.end"}},
			{"bad code", func(m map[string]any) { m["status"] = "maybe" }, []string{"$.status"}},
			{"nested", func(m map[string]any) {
				m["participants"].([]any)[0].(map[string]any)["status"] = "sure"
			}, []string{"$.participants[0].status"}},
		} {
			m := good()
			c.change(m)
			raw, _ := json.Marshal(m)
			a := e.send("POST", "/appointments", string(raw), "Idempotency-Key", "val-"+strings.ReplaceAll(c.name, " ", "-"))
			var p unified.Problem
			_ = json.Unmarshal(a.body, &p)
			var paths []string
			for _, fp := range p.Errors {
				paths = append(paths, fp.Path)
			}
			if a.status != 400 || p.Code != unified.CodeInvalidBody || !reflect.DeepEqual(paths, c.paths) {
				t.Errorf("%s: %d %s, want paths %v", c.name, a.status, a.body, c.paths)
			}
		}
		if a := e.send("POST", "/appointments", good()); a.status != 400 || !bytes.Contains(a.body, []byte("idempotency_key_required")) {
			t.Errorf("no key: %d %s", a.status, a.body)
		}
		if a := e.send("PATCH", "/appointments/abc", `{"status":"cancelled"}`); a.status != 428 {
			t.Errorf("no If-Match: %d %s", a.status, a.body)
		}
		if a := e.send("PATCH", "/appointments/abc", `{"patient":{"resource":"patients","id":"x"}}`, "If-Match", `W/"1"`); a.status != 400 ||
			!bytes.Contains(a.body, []byte(`"not_updatable"`)) {
			t.Errorf("not updatable: %d %s", a.status, a.body)
		}
		big := fmt.Sprintf(`{"description":"%s"}`, strings.Repeat("x", 2<<20))
		if a := e.send("POST", "/appointments", big, "Idempotency-Key", "big"); a.status != 413 {
			t.Errorf("oversize: %d", a.status)
		}
		if after := len(e.peer.Requests(t)); after != before {
			t.Errorf("refused bodies reached the source: %d requests", after-before)
		}
	})

	t.Run("audit and logs hold no PHI", func(t *testing.T) {
		out := e.ferry.stdout.String() + e.ferry.stderr.String()
		for _, c := range []string{"Canarynote", "UGF0aWVudCBDYW5hcnlub3Rl", "conc-key", "lost-key", "Follow-up visit", "Patient request"} {
			if strings.Contains(out, c) {
				t.Fatalf("%q in ferry's output", c)
			}
		}
		if !strings.Contains(out, `"action":"create"`) || !strings.Contains(out, `"record_ref":"hmac-sha256:`) || !strings.Contains(out, `"action":"update"`) {
			t.Fatalf("write audit events missing")
		}
	})
}
