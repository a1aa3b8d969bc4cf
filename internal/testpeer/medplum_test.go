//go:build unix

package testpeer

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The peer's tests double as its specification: each one pins a behaviour
// that connector tests rely on. Every test starts its own peer, so they run
// in parallel.

// bundle is the part of a FHIR Bundle these tests look at.
type bundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string   `json:"fullUrl"`
		Resource resource `json:"resource"`
	} `json:"entry"`
}

type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

func (b bundle) link(relation string) (string, bool) {
	for _, l := range b.Link {
		if l.Relation == relation {
			return l.URL, true
		}
	}
	return "", false
}

var testClient = &http.Client{Timeout: 30 * time.Second}

// get performs a GET with the given headers and decodes a JSON body into out
// (when out is not nil). It returns the status code.
func get(t *testing.T, url string, headers map[string]string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("GET %s: Content-Type %q, want application/fhir+json", url, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: decoding %q: %v", url, body, err)
		}
	}
	return resp.StatusCode
}

// TestMedplumSynthea checks the default peer (Synthea bundles, link paging).
// Its subtests share one peer: start-up dominates their cost.
func TestMedplumSynthea(t *testing.T) {
	t.Parallel()
	m := StartMedplum(t, MedplumOptions{})
	t.Run("LinkPaging", func(t *testing.T) { testLinkPaging(t, m) })
	t.Run("ReadPatient", func(t *testing.T) { testReadPatient(t, m) })
}

func testLinkPaging(t *testing.T, m *Medplum) {
	if len(m.PatientIDs) != len(SyntheaBundles()) {
		t.Fatalf("PatientIDs = %v, want one per Synthea bundle (%d)", m.PatientIDs, len(SyntheaBundles()))
	}

	var first bundle
	if code := get(t, m.BaseURL+"/Patient?_count=1", nil, &first); code != http.StatusOK {
		t.Fatalf("search: status %d", code)
	}
	if first.ResourceType != "Bundle" || first.Type != "searchset" {
		t.Fatalf("got %s/%s, want Bundle/searchset", first.ResourceType, first.Type)
	}
	if len(first.Entry) != 1 {
		t.Fatalf("got %d entries with _count=1, want 1", len(first.Entry))
	}
	if _, ok := first.link("self"); !ok {
		t.Errorf("no self link in %+v", first.Link)
	}
	next, ok := first.link("next")
	if !ok {
		t.Fatalf("no next link in link mode: %+v", first.Link)
	}
	// Connectors follow next links verbatim, so they must be absolute and
	// point back at the same server.
	if !strings.HasPrefix(next, m.BaseURL+"/Patient?") {
		t.Errorf("next link %q is not under %s", next, m.BaseURL)
	}

	// Following next to the end must visit every loaded patient exactly once
	// and stop with a page that has no next link.
	var seen []string
	page := first
	for range 10 {
		for _, e := range page.Entry {
			seen = append(seen, e.Resource.ID)
			if want := m.BaseURL + "/Patient/" + e.Resource.ID; e.FullURL != want {
				t.Errorf("fullUrl = %q, want %q", e.FullURL, want)
			}
		}
		next, ok := page.link("next")
		if !ok {
			break
		}
		page = bundle{}
		if code := get(t, next, nil, &page); code != http.StatusOK {
			t.Fatalf("GET next %s: status %d", next, code)
		}
	}
	slices.Sort(seen)
	want := slices.Sorted(slices.Values(m.PatientIDs))
	if !slices.Equal(seen, want) {
		t.Errorf("paging visited %v, want %v", seen, want)
	}
}

func testReadPatient(t *testing.T, m *Medplum) {
	if len(m.PatientIDs) == 0 {
		t.Fatal("no PatientIDs reported")
	}
	id := m.PatientIDs[0]

	var p resource
	if code := get(t, m.BaseURL+"/Patient/"+id, nil, &p); code != http.StatusOK {
		t.Fatalf("read Patient/%s: status %d", id, code)
	}
	if p.ResourceType != "Patient" || p.ID != id {
		t.Errorf("read returned %s/%s, want Patient/%s", p.ResourceType, p.ID, id)
	}

	// The bundles reference the patient by urn:uuid; loading must have
	// rewritten those to the assigned id, or patient-scoped queries (what
	// connectors mostly run) find nothing.
	var encounters bundle
	if code := get(t, m.BaseURL+"/Encounter?subject=Patient/"+id, nil, &encounters); code != http.StatusOK {
		t.Fatalf("Encounter search: status %d", code)
	}
	if len(encounters.Entry) == 0 {
		t.Errorf("no Encounters reference Patient/%s", id)
	}

	var missing map[string]any
	if code := get(t, m.BaseURL+"/Patient/does-not-exist", nil, &missing); code != http.StatusNotFound {
		t.Errorf("read of unknown id: status %d, want 404", code)
	}
	if missing["resourceType"] != "OperationOutcome" {
		t.Errorf("404 body is %v, want an OperationOutcome", missing["resourceType"])
	}
}

func TestMedplumOffsetPaging(t *testing.T) {
	t.Parallel()
	m := StartMedplum(t, MedplumOptions{Paging: "offset"})

	var first bundle
	if code := get(t, m.BaseURL+"/Patient?_count=1", nil, &first); code != http.StatusOK {
		t.Fatalf("search: status %d", code)
	}
	if len(first.Link) != 0 {
		t.Errorf("offset mode returned links %+v, want none", first.Link)
	}
	if len(first.Entry) != 1 {
		t.Fatalf("got %d entries, want 1", len(first.Entry))
	}

	// Without links, clients page with _offset; it must move the window.
	var second bundle
	if code := get(t, m.BaseURL+"/Patient?_count=1&_offset=1", nil, &second); code != http.StatusOK {
		t.Fatalf("search _offset=1: status %d", code)
	}
	if len(second.Entry) != 1 || second.Entry[0].Resource.ID == first.Entry[0].Resource.ID {
		t.Errorf("_offset=1 did not return the next patient: %+v", second.Entry)
	}
	var past bundle
	get(t, m.BaseURL+"/Patient?_count=1&_offset=3", nil, &past)
	if len(past.Entry) != 0 {
		t.Errorf("_offset past the end returned %d entries", len(past.Entry))
	}
}

func TestMedplumRequireAuth(t *testing.T) {
	t.Parallel()
	const token = "Bearer peer-test-token"
	m := StartMedplum(t, MedplumOptions{Bundles: []string{}, RequireAuth: token})
	url := m.BaseURL + "/Patient"

	var outcome map[string]any
	if code := get(t, url, nil, &outcome); code != http.StatusUnauthorized {
		t.Errorf("no Authorization: status %d, want 401", code)
	}
	if outcome["resourceType"] != "OperationOutcome" {
		t.Errorf("401 body is %v, want an OperationOutcome", outcome["resourceType"])
	}
	if code := get(t, url, map[string]string{"Authorization": "Bearer wrong"}, nil); code != http.StatusUnauthorized {
		t.Errorf("wrong Authorization: status %d, want 401", code)
	}
	var b bundle
	if code := get(t, url, map[string]string{"Authorization": token}, &b); code != http.StatusOK {
		t.Errorf("right Authorization: status %d, want 200", code)
	}
	if b.Type != "searchset" {
		t.Errorf("authorized search returned %q, want a searchset", b.Type)
	}

	// Rejected requests are logged too: tests assert what a connector
	// sent, whether or not the peer accepted it.
	var auths []string
	for _, r := range m.Requests(t) {
		auths = append(auths, r.Authorization)
	}
	if want := []string{"", "Bearer wrong", token}; !slices.Equal(auths, want) {
		t.Errorf("logged Authorization headers %q, want %q", auths, want)
	}
}

func TestMedplumRequestLog(t *testing.T) {
	t.Parallel()
	m := StartMedplum(t, MedplumOptions{Bundles: []string{}})

	get(t, m.BaseURL+"/metadata", nil, nil)
	m.ResetRequests(t)
	if got := m.Requests(t); len(got) != 0 {
		t.Fatalf("after reset: %d requests logged, want 0: %+v", len(got), got)
	}

	get(t, m.BaseURL+"/Patient?_count=5&name=smith", map[string]string{"X-Request-Id": "req-1", "Authorization": "Bearer abc"}, nil)
	get(t, m.BaseURL+"/Patient/nope", nil, nil)

	want := []PeerRequest{
		{Method: "GET", Path: "/fhir/R4/Patient?_count=5&name=smith", Authorization: "Bearer abc", RequestID: "req-1", Status: 200},
		{Method: "GET", Path: "/fhir/R4/Patient/nope", Status: 404},
	}
	if got := m.Requests(t); !slices.Equal(got, want) {
		t.Errorf("request log:\n got %+v\nwant %+v", got, want)
	}
}

func TestMedplumStop(t *testing.T) {
	t.Parallel()
	m := StartMedplum(t, MedplumOptions{Bundles: []string{}})
	m.Stop()
	m.Stop() // idempotent: must neither block nor panic

	if resp, err := testClient.Get(m.BaseURL + "/metadata"); err == nil {
		resp.Body.Close()
		t.Errorf("peer still answering after Stop: %s", resp.Status)
	}
	if !m.cmd.ProcessState.Success() {
		// SIGTERM is handled by the peer, so it should exit cleanly.
		t.Errorf("peer exit after SIGTERM: %v, want status 0", m.cmd.ProcessState)
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if modLine, _, _ := strings.Cut(string(data), "\n"); modLine != "module github.com/ferryhealth/ferry" {
		t.Errorf("repoRoot() = %q holds %q, want Ferry's go.mod", root, modLine)
	}
}
