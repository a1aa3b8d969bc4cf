package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ferryhealth/ferry/internal/testpeer"
)

// TestChangeFeedAgainstMedplum follows a change feed through Ferry while
// Medplum's own API creates and updates patients: single writes from
// several goroutines at once and transactions, whose records all share one
// lastUpdated instant. Polls use a page of 3, so most of them end inside
// such an instant. After every round the feed, polled to its end, must have
// returned exactly the records the round touched; over the whole run no
// version of a record may come twice, and the last version the feed
// returned of every patient must be the one Medplum holds.
func TestChangeFeedAgainstMedplum(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 writes to Medplum and the polls that follow them")
	}
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	base := startPagingFerry(t, peer.BaseURL)
	feed := &changeFeed{t: t, url: base + "/patients/_changes", limit: 3}

	// Everything the server holds, from before it was loaded.
	got := feed.pollToEnd("since=2000-01-01T00:00:00Z")
	if want := directPatients(t, peer.BaseURL); !sameKeys(got, want) {
		t.Fatalf("first polls returned %d patients, the server holds %d", len(got), len(want))
	}

	const rounds, writesPerRound = 25, 40
	rng := rand.New(rand.NewPCG(7, 11))
	writes, shared := 0, 0
	for round := range rounds {
		ids := keys(directPatients(t, peer.BaseURL))
		touched := map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		jobs := make(chan func() []string)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for job := range jobs {
					changed := job()
					mu.Lock()
					for _, id := range changed {
						touched[id] = true
					}
					mu.Unlock()
				}
			}()
		}
		for range writesPerRound {
			switch n := rng.IntN(10); {
			case n < 7:
				id := ids[rng.IntN(len(ids))]
				jobs <- func() []string { return []string{updatePatient(t, peer.BaseURL, id)} }
				writes++
			case n < 9:
				jobs <- func() []string { return createPatients(t, peer.BaseURL, 1) }
				writes++
			default:
				jobs <- func() []string { return createPatients(t, peer.BaseURL, 6) }
				writes += 6
			}
		}
		close(jobs)
		wg.Wait()

		polled := feed.pollToEnd("")
		if !sameKeys(polled, touched) {
			t.Fatalf("round %d: the feed returned %d records, the round touched %d (missing %v, extra %v)",
				round, len(polled), len(touched), minus(touched, polled), minus(polled, touched))
		}
		shared += feed.sharedInstants
		feed.sharedInstants = 0
	}
	if writes < 1000 {
		t.Fatalf("only %d writes", writes)
	}
	// The last version returned of each patient is the server's.
	for id, at := range directPatients(t, peer.BaseURL) {
		if feed.last[id] != at {
			t.Errorf("patient %s: the feed's last version is %q, the server holds %q", id, feed.last[id], at)
		}
	}
	if shared == 0 {
		t.Fatal("no two records shared an instant: the test did not exercise the cursor's seen set")
	}
	t.Logf("%d writes, %d polls, %d deliveries sharing an instant with the one before", writes, feed.polls, shared)
}

// changeFeed polls one change feed through Ferry and checks, delivery by
// delivery, that no version of a record comes twice and that the feed runs
// oldest first.
type changeFeed struct {
	t      *testing.T
	url    string
	limit  int
	cursor string
	// versions are the (id, updated_at) pairs returned so far.
	versions map[string]bool
	// last is the newest updated_at returned per id.
	last           map[string]string
	prevAt         string
	polls          int
	sharedInstants int
}

// pollToEnd polls until has_more is false and returns the ids returned, with
// their updated_at. start is the first poll's query when the feed has no
// cursor yet.
func (f *changeFeed) pollToEnd(start string) map[string]string {
	f.t.Helper()
	if f.versions == nil {
		f.versions, f.last = map[string]bool{}, map[string]string{}
	}
	out := map[string]string{}
	for n := 0; ; n++ {
		if n == 2000 {
			f.t.Fatalf("the feed has had more to give for %d polls: it never ends", n)
		}
		q := start
		if f.cursor != "" {
			q = "cursor=" + url.QueryEscape(f.cursor)
		}
		code, body, err := getRaw(fmt.Sprintf("%s?%s&limit=%d", f.url, q, f.limit))
		if err != nil || code != 200 {
			f.t.Fatalf("poll: %d %v %s", code, err, body)
		}
		f.polls++
		var page struct {
			Data []struct {
				ID        string `json:"id"`
				UpdatedAt string `json:"updated_at"`
			} `json:"data"`
			NextCursor string `json:"next_cursor"`
			HasMore    *bool  `json:"has_more"`
		}
		if err := json.Unmarshal(body, &page); err != nil || page.NextCursor == "" || page.HasMore == nil {
			f.t.Fatalf("poll answer without next_cursor or has_more (%v): %s", err, body)
		}
		if len(page.Data) > f.limit {
			f.t.Fatalf("poll returned %d records, limit %d", len(page.Data), f.limit)
		}
		for _, r := range page.Data {
			v := r.ID + "@" + r.UpdatedAt
			if f.versions[v] {
				f.t.Fatalf("version %s returned twice", v)
			}
			f.versions[v] = true
			if r.UpdatedAt < f.prevAt {
				f.t.Fatalf("feed went back in time: %s after %s", r.UpdatedAt, f.prevAt)
			}
			if r.UpdatedAt == f.prevAt {
				f.sharedInstants++
			}
			f.prevAt = r.UpdatedAt
			f.last[r.ID] = r.UpdatedAt
			out[r.ID] = r.UpdatedAt
		}
		f.cursor = page.NextCursor
		if !*page.HasMore {
			return out
		}
	}
}

// directPatients lists every patient Medplum holds, id → meta.lastUpdated,
// asking it directly.
func directPatients(t *testing.T, fhirBase string) map[string]string {
	t.Helper()
	out := map[string]string{}
	next := fhirBase + "/Patient?_count=200"
	for next != "" {
		var b struct {
			Entry []struct {
				Resource struct {
					ID   string `json:"id"`
					Meta struct {
						LastUpdated string `json:"lastUpdated"`
					} `json:"meta"`
				} `json:"resource"`
			} `json:"entry"`
			Link []struct {
				Relation string `json:"relation"`
				URL      string `json:"url"`
			} `json:"link"`
		}
		fhirDo(t, "GET", next, nil, &b)
		for _, e := range b.Entry {
			out[e.Resource.ID] = e.Resource.Meta.LastUpdated
		}
		next = ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				next = l.URL
			}
		}
	}
	return out
}

// updatePatient changes a patient through Medplum's API (a new telecom
// value each time) and returns its id.
func updatePatient(t *testing.T, fhirBase, id string) string {
	var p map[string]any
	fhirDo(t, "GET", fhirBase+"/Patient/"+id, nil, &p)
	p["telecom"] = []any{map[string]any{"system": "phone", "value": fmt.Sprintf("555-%07d", rand.IntN(1e7))}}
	fhirDo(t, "PUT", fhirBase+"/Patient/"+id, p, nil)
	return id
}

// createPatients creates n synthetic patients, in one transaction when n > 1
// (Medplum stamps every entry of a transaction with the same instant), and
// returns their ids.
func createPatients(t *testing.T, fhirBase string, n int) []string {
	patient := func() map[string]any {
		return map[string]any{"resourceType": "Patient", "name": []any{map[string]any{
			"family": "Changefeed", "given": []any{fmt.Sprintf("Test%d", rand.IntN(1e6))}}}}
	}
	if n == 1 {
		var p struct {
			ID string `json:"id"`
		}
		fhirDo(t, "POST", fhirBase+"/Patient", patient(), &p)
		return []string{p.ID}
	}
	entries := make([]any, n)
	for i := range entries {
		entries[i] = map[string]any{"resource": patient(), "request": map[string]any{"method": "POST", "url": "Patient"}}
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	fhirDo(t, "POST", fhirBase, map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries}, &b)
	ids := make([]string, 0, n)
	for _, e := range b.Entry {
		ids = append(ids, e.Resource.ID)
	}
	if len(ids) != n {
		t.Errorf("transaction created %d patients, want %d", len(ids), n)
	}
	return ids
}

// fhirDo calls Medplum directly. It may run on goroutines other than the
// test's, so it reports with Errorf and leaves out unless the answer decodes.
func fhirDo(t *testing.T, method, u string, body, out any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := pagingClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, u, err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Errorf("%s %s: %d %s", method, u, resp.StatusCode, strings.TrimSpace(string(b)))
		return
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Errorf("%s %s: %v", method, u, err)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sameKeys[A, B any](a map[string]A, b map[string]B) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func minus[A, B any](a map[string]A, b map[string]B) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// TestChangeFeedRefusals: what a change poll refuses, each with its
// problem code, and a feed scoped by a required filter.
func TestChangeFeedRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Medplum")
	}
	peer := testpeer.StartMedplum(t, testpeer.MedplumOptions{})
	base := startPagingFerry(t, peer.BaseURL)
	patient := peer.PatientIDs[0]
	since := "since=2000-01-01T00:00:00Z"

	poll := func(u string) (int, map[string]any) {
		t.Helper()
		code, body, err := getRaw(u)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v: %s", u, err, body)
		}
		return code, m
	}
	_, first := poll(base + "/observations/_changes?" + since + "&limit=2&patient_id=" + patient)
	changeCursor, _ := first["next_cursor"].(string)
	if n := len(first["data"].([]any)); n != 2 || changeCursor == "" || first["has_more"] != true {
		t.Fatalf("first poll of a patient's observations: %d records, cursor %q, has_more %v", n, changeCursor, first["has_more"])
	}
	_, page := poll(base + "/patients?limit=1")
	searchCursor, _ := page["next_cursor"].(string)
	if searchCursor == "" {
		t.Fatal("no paging cursor to misuse")
	}
	tampered := []byte(changeCursor)
	tampered[len(tampered)/2] ^= 1

	for _, tc := range []struct {
		name, url string
		status    int
		code      string
	}{
		{"no since", base + "/patients/_changes", 400, "missing_parameter"},
		{"since not a date-time", base + "/patients/_changes?since=2024-01-01", 400, "invalid_parameter"},
		{"since and cursor", base + "/observations/_changes?" + since + "&patient_id=" + patient + "&cursor=" + url.QueryEscape(changeCursor), 400, "invalid_parameter"},
		{"the feed's own filter", base + "/patients/_changes?" + since + "&updated_gte=2024-01-01", 400, "invalid_parameter"},
		{"the feed's own order", base + "/patients/_changes?" + since + "&sort=updated_at", 400, "invalid_parameter"},
		{"raw", base + "/patients/_changes?" + since + "&raw=true", 400, "invalid_parameter"},
		{"limit over the maximum", base + "/patients/_changes?" + since + "&limit=201", 400, "invalid_parameter"},
		{"a required filter missing", base + "/observations/_changes?" + since, 400, "missing_parameter"},
		{"tampered cursor", base + "/observations/_changes?patient_id=" + patient + "&cursor=" + url.QueryEscape(string(tampered)), 400, "invalid_cursor"},
		{"a search's cursor", base + "/patients/_changes?cursor=" + url.QueryEscape(searchCursor), 400, "invalid_cursor"},
		{"a feed's cursor on a search", base + "/observations?patient_id=" + patient + "&cursor=" + url.QueryEscape(changeCursor), 400, "invalid_cursor"},
		{"another resource's feed", base + "/conditions/_changes?patient_id=" + patient + "&cursor=" + url.QueryEscape(changeCursor), 400, "invalid_cursor"},
		{"another patient with the cursor", base + "/observations/_changes?patient_id=other-patient&cursor=" + url.QueryEscape(changeCursor), 400, "invalid_cursor"},
		{"unknown resource", base + "/widgets/_changes?" + since, 404, "not_found"},
	} {
		code, m := poll(tc.url)
		if code != tc.status || m["code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, m["code"], tc.status, tc.code)
		}
	}
	// The cursor, with the same filter or none, carries on after the first
	// poll's two records.
	code, next := poll(base + "/observations/_changes?limit=2&cursor=" + url.QueryEscape(changeCursor))
	if code != 200 || len(next["data"].([]any)) != 2 {
		t.Fatalf("second poll: %d %v", code, next)
	}
	for _, r := range next["data"].([]any) {
		for _, f := range first["data"].([]any) {
			if r.(map[string]any)["id"] == f.(map[string]any)["id"] {
				t.Errorf("record %v returned by both polls", r.(map[string]any)["id"])
			}
		}
	}
}
