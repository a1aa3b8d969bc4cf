package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// fhirTypeOf is the FHIR type each unified resource is read from, written
// out here rather than taken from the connector so the direct count is
// independent of the code under test.
var fhirTypeOf = map[unified.ResourceType]string{
	unified.Patients: "Patient", unified.Practitioners: "Practitioner", unified.Organizations: "Organization",
	unified.Locations: "Location", unified.Encounters: "Encounter", unified.Observations: "Observation",
	unified.Conditions: "Condition", unified.Allergies: "AllergyIntolerance", unified.Medications: "MedicationRequest",
	unified.Immunizations: "Immunization", unified.Procedures: "Procedure", unified.DiagnosticReports: "DiagnosticReport",
	unified.Documents: "DocumentReference", unified.Appointments: "Appointment", unified.Coverages: "Coverage",
}

// directPatientParam is how the direct count asks Medplum for one patient's
// records: by the reference element itself, which its in-memory store can
// evaluate (see the fhir connector's patient_search setting).
var directPatientParam = map[string]string{
	"Observation": "subject", "Condition": "subject", "Encounter": "subject", "Procedure": "subject",
	"DiagnosticReport": "subject", "DocumentReference": "subject", "MedicationRequest": "subject",
	"Appointment": "actor", "AllergyIntolerance": "patient", "Immunization": "patient", "Coverage": "beneficiary",
}

// TestPagingEveryResourceAgainstMedplum loads all 30 Synthea patients into
// a real FHIR server and checks, for every resource type and every patient,
// that the records Ferry returns when a client follows every cursor are
// exactly the records the server holds: same ids, none twice, none missing,
// for page sizes 1 (6 patients), 7 and 200 (all 30), for a source paging by next link and for
// one paging by _offset only.
func TestPagingEveryResourceAgainstMedplum(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 30 patients into Medplum and pages through all their records")
	}
	for _, mode := range []struct {
		paging string
		limits []int
	}{
		// Page size 1 is the costliest (one request per record) and
		// exercises the same cursor code under both modes, so it runs under
		// next-link paging only, and over 6 of the 30 patients.
		{"link", []int{1, 7, 200}},
		{"offset", []int{7, 200}},
	} {
		t.Run(mode.paging, func(t *testing.T) {
			peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{
				Bundles: testpeer.AllSyntheaBundles(t), Paging: mode.paging,
			})
			if len(peer.PatientIDs) != 30 {
				t.Fatalf("%d patients loaded, want 30", len(peer.PatientIDs))
			}
			base := startPagingFerry(t, peer.BaseURL)
			want := directRecords(t, peer)
			total, perType := 0, map[unified.ResourceType]int{}
			for s, ids := range want {
				total += len(ids)
				perType[s.resource] += len(ids)
			}
			// A search the server cannot answer gives zero on both sides and
			// would compare equal; these types are in every Synthea set.
			for _, r := range []unified.ResourceType{unified.Patients, unified.Encounters, unified.Observations,
				unified.Conditions, unified.Immunizations, unified.Procedures, unified.Medications,
				unified.DiagnosticReports, unified.Allergies} {
				if perType[r] == 0 {
					t.Errorf("the server holds no %s: the direct count is broken", r)
				}
			}
			t.Logf("records per resource: %v", perType)
			t.Logf("%d records across %d (resource, patient) searches", total, len(want))
			for _, limit := range mode.limits {
				start := time.Now()
				searches := want
				if limit == 1 {
					// One request per record: a fifth of the patients walk the
					// same cursor code in a fifth of the time.
					searches = firstPatients(want, peer.PatientIDs[:6])
				}
				requests := compareThroughFerry(t, base, searches, limit)
				t.Logf("limit %d: %d requests in %s", limit, requests, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

// firstPatients keeps the searches that are not patient-scoped and those
// of the given patients.
func firstPatients(all map[search][]string, patients []string) map[search][]string {
	keep := map[string]bool{}
	for _, p := range patients {
		keep[p] = true
	}
	out := map[search][]string{}
	for s, ids := range all {
		if s.patient == "" || keep[s.patient] {
			out[s] = ids
		}
	}
	return out
}

// search is one search the test compares: a resource, and a patient id for
// patient-scoped resources ("" for the others).
type search struct {
	resource unified.ResourceType
	patient  string
}

// directRecords asks the FHIR server itself, with a large _count and its
// own _offset paging, for the ids of every search's records.
func directRecords(t *testing.T, peer *testpeer.Medplum) map[search][]string {
	t.Helper()
	out := map[search][]string{}
	for _, r := range unified.ResourceTypes() {
		typ := fhirTypeOf[r]
		param, scoped := directPatientParam[typ]
		if !scoped {
			out[search{resource: r}] = fhirIDs(t, peer.BaseURL+"/"+typ, url.Values{})
			continue
		}
		for _, p := range peer.PatientIDs {
			v := url.Values{param: {"Patient/" + p}}
			out[search{resource: r, patient: p}] = fhirIDs(t, peer.BaseURL+"/"+typ, v)
		}
	}
	return out
}

func fhirIDs(t *testing.T, endpoint string, q url.Values) []string {
	t.Helper()
	var ids []string
	const count = 1000
	for offset := 0; ; offset += count {
		q.Set("_count", strconv.Itoa(count))
		q.Set("_offset", strconv.Itoa(offset))
		status, body := get(t, endpoint+"?"+q.Encode(), "")
		if status != 200 {
			t.Fatalf("direct %s?%s: %d %.300s", endpoint, q.Encode(), status, body)
		}
		var b struct {
			Entry []struct {
				Resource struct {
					ID string `json:"id"`
				} `json:"resource"`
				Search struct {
					Mode string `json:"mode"`
				} `json:"search"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("direct: %v", err)
		}
		n := 0
		for _, e := range b.Entry {
			if e.Search.Mode == "" || e.Search.Mode == "match" {
				ids = append(ids, e.Resource.ID)
				n++
			}
		}
		if n < count {
			return ids
		}
	}
}

// compareThroughFerry runs every search through Ferry at page size limit,
// following cursors to the end, and compares with want. Two searches run at
// a time, so Ferry's own work overlaps the source's.
func compareThroughFerry(t *testing.T, base string, want map[search][]string, limit int) int {
	t.Helper()
	jobs := make(chan search)
	var (
		mu       sync.Mutex
		requests int
		wg       sync.WaitGroup
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				got, n, err := ferryIDs(base, s, limit)
				mu.Lock()
				requests += n
				mu.Unlock()
				if err != nil {
					t.Errorf("%s patient %q limit %d: %v", s.resource, s.patient, limit, err)
					continue
				}
				if msg := sameIDs(got, want[s]); msg != "" {
					t.Errorf("%s patient %q limit %d: %s", s.resource, s.patient, limit, msg)
				}
			}
		}()
	}
	keys := make([]search, 0, len(want))
	for s := range want {
		keys = append(keys, s)
	}
	slices.SortFunc(keys, func(a, b search) int {
		if c := cmpString(string(a.resource), string(b.resource)); c != 0 {
			return c
		}
		return cmpString(a.patient, b.patient)
	})
	for _, s := range keys {
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	return requests
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ferryIDs follows a search's cursors through Ferry and returns the record
// ids in the order received, and how many requests it took.
func ferryIDs(base string, s search, limit int) ([]string, int, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}, "fields": {"source"}}
	if s.patient != "" {
		q.Set("patient_id", s.patient)
	}
	next := base + "/" + string(s.resource) + "?" + q.Encode()
	var ids []string
	for n := 1; ; n++ {
		status, body, err := getRaw(next)
		if err != nil {
			return nil, n, err
		}
		if status != 200 {
			return nil, n, fmt.Errorf("status %d: %.300s", status, body)
		}
		var page unified.List[struct {
			ID     string         `json:"id"`
			Source unified.Source `json:"source"`
		}]
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, n, err
		}
		if len(page.Data) > limit {
			return nil, n, fmt.Errorf("page of %d records for limit %d", len(page.Data), limit)
		}
		for _, r := range page.Data {
			if r.Source.SourceID != r.ID || r.Source.ConnectionID != "demo" {
				return nil, n, fmt.Errorf("record %q has provenance %+v", r.ID, r.Source)
			}
			ids = append(ids, r.ID)
		}
		if page.NextCursor == "" {
			return ids, n, nil
		}
		if n > 20000 {
			return nil, n, fmt.Errorf("paging does not end")
		}
		next = base + "/" + string(s.resource) + "?cursor=" + url.QueryEscape(page.NextCursor)
	}
}

// sameIDs describes how got differs from want as multisets: duplicates,
// records missing and records extra; "" when they are equal.
func sameIDs(got, want []string) string {
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	var dup, missing, extra []string
	for id, n := range seen {
		if n > 1 {
			dup = append(dup, id)
		}
	}
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = true
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id := range seen {
		if !wantSet[id] {
			extra = append(extra, id)
		}
	}
	if len(dup)+len(missing)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("got %d records, want %d: %d duplicated %v, %d missing %v, %d extra %v",
		len(got), len(want), len(dup), head(dup), len(missing), head(missing), len(extra), head(extra))
}

func head(s []string) []string {
	slices.Sort(s)
	return s[:min(len(s), 3)]
}

// startPagingFerry runs `ferry serve` with the FHIR plugin against the
// source, searching by subject as Medplum's in-memory store needs.
func startPagingFerry(t *testing.T, sourceURL string) string {
	t.Helper()
	listen, admin := freePort(t), freePort(t)
	path := writeConfig(t, sourceURL, listen, admin)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	conn := cfg["connections"].([]any)[0].(map[string]any)
	conn["settings"] = map[string]any{"patient_search": "subject"}
	// Medplum scans its whole store for some searches; on a loaded CI
	// machine that can exceed the demo's 10 s. The test is about paging,
	// not deadlines.
	conn["timeout"] = "60s"
	b, _ := json.Marshal(cfg)
	path = filepath.Join(t.TempDir(), "ferry.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	startFerry(t, "serve", "--config", path)
	waitHTTP(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	return "http://" + listen + "/v1/demo"
}

var pagingClient = &http.Client{Timeout: 30 * time.Second}

// getRaw is get for goroutines other than the test's: it returns errors
// instead of failing the test.
func getRaw(u string) (int, []byte, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+DemoAPIKey)
	resp, err := pagingClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
