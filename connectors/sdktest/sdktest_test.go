package sdktest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/fhir"
	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/unified"
)

func sandboxHarness(t *testing.T) (*Harness, *sandbox.Server) {
	sb := sandbox.New(sandbox.Options{})
	h := New(t, fhir.New(), Options{
		Upstream:  sb.Handler(),
		Transport: TransportOptions{BaseURL: "http://source.invalid" + sandbox.Prefix},
	})
	return h, sb
}

// TestFHIRConnectorAgainstSandbox: the FHIR connector in-process against its
// sandbox, served in memory: reads, searches and follows next links, every
// record checked against the unified model.
func TestFHIRConnectorAgainstSandbox(t *testing.T) {
	h, sb := sandboxHarness(t)
	id := sb.PatientIDs()[0]
	rec, err := h.Read(unified.Patients, id)
	if err != nil {
		t.Fatal(err)
	}
	var p unified.Patient
	if err := json.Unmarshal(rec, &p); err != nil || p.ID != id || p.Source.ConnectionID != "test" {
		t.Fatalf("read: %s %v", rec, err)
	}
	all, err := h.SearchAll(unified.Patients, nil, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(sb.PatientIDs()) {
		t.Fatalf("%d patients over the pages, want %d", len(all), len(sb.PatientIDs()))
	}
	if _, err := h.Read(unified.Patients, "no-such-patient"); connectors.CodeOf(err) != connectors.CodeNotFound {
		t.Fatalf("missing patient: %v", err)
	}
	reqs := h.Requests()
	if len(reqs) < 3 || reqs[0].Path != "Patient/"+id {
		t.Fatalf("requests: %+v", reqs)
	}
	// The code filter reaches the connector normalised, as from the host.
	if _, err := h.Search(unified.Observations, map[string]string{"patient_id": id, "code": "loinc|8867-4"}, 3); err != nil {
		t.Fatal(err)
	}
	last := h.Transport.Exchanges()[len(h.Transport.Exchanges())-1]
	if !strings.Contains(last.URL, "http%3A%2F%2Floinc.org%7C8867-4") {
		t.Fatalf("code filter not normalised: %s", last.URL)
	}
}

// ruleBreaker asks the transport for things the host refuses.
type ruleBreaker struct{ path, method string }

func (ruleBreaker) Metadata(context.Context, *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	return &connectors.MetadataResponse{Kind: "rules", Version: "0", Resources: []connectors.ResourceCapability{{Resource: unified.Patients, Read: true}}}, nil
}
func (ruleBreaker) Configure(context.Context, *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	return &connectors.ConfigureResponse{}, nil
}
func (r ruleBreaker) Read(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	_, err := req.Transport.Do(ctx, &connectors.HTTPRequest{Method: r.method, Path: r.path, Header: []connectors.Param{{Name: "Authorization", Value: "x"}}})
	if err == nil {
		err = &connectors.Error{Code: connectors.CodeNotFound}
	}
	return nil, err
}
func (ruleBreaker) Search(context.Context, *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	return nil, &connectors.Error{Code: connectors.CodeUnsupported}
}

// fakeT records failures instead of failing, to test that the harness
// reports what it should.
type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Errorf(format string, args ...any) { f.errs = append(f.errs, format) }
func (f *fakeT) Helper()                           {}

func TestTransportEnforcesHostRules(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("a credential header reached the source")
		}
	})
	for _, c := range []struct{ path, method, want string }{
		{"../admin", "", "path"},
		{"http://evil.example/x", "", "path"},
		{"Patient/1", "DELETE", "method"},
		{"Patient/1", "", "header Authorization"},
	} {
		ft := &fakeT{TB: t}
		h := New(ft, ruleBreaker{c.path, c.method}, Options{Upstream: ok})
		_, err := h.Read(unified.Patients, "1")
		if len(ft.errs) == 0 {
			t.Errorf("%+v: no failure reported", c)
		}
		v := h.Transport.Violations()
		if len(v) != 1 || !strings.Contains(v[0], c.want) {
			t.Errorf("%+v: violations %q", c, v)
		}
		if c.want != "header Authorization" && connectors.CodeOf(err) != connectors.CodeInternal {
			t.Errorf("%+v: got %v, want internal as from the host", c, err)
		}
	}
}

func TestTransportDeadlineAndCap(t *testing.T) {
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	tr, err := NewTransport(hang, TransportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := tr.Do(ctx, &connectors.HTTPRequest{Path: "x"}); connectors.CodeOf(err) != connectors.CodeUpstreamTimeout || time.Since(start) > 2*time.Second {
		t.Fatalf("hang: %v after %v", err, time.Since(start))
	}
	big := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 2048)) })
	tr, _ = NewTransport(big, TransportOptions{MaxBodyBytes: 1024})
	if _, err := tr.Do(context.Background(), &connectors.HTTPRequest{Path: "x"}); connectors.CodeOf(err) != connectors.CodeUpstream {
		t.Fatalf("over the cap: %v", err)
	}
}

// TestRecordThenReplay records a live source (an httptest server on
// 127.0.0.1, started here; run alone with go test -run TestRecordThenReplay
// ./sdktest) and replays the recording in memory with the same answers.
func TestRecordThenReplay(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "patients.txtar")
	id := sb.PatientIDs()[1]
	var live json.RawMessage
	t.Run("record", func(t *testing.T) {
		h := New(t, fhir.New(), Options{Transport: TransportOptions{BaseURL: srv.URL + sandbox.Prefix}, RecordTo: file})
		var err error
		if live, err = h.Read(unified.Patients, id); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Read(unified.Patients, "gone"); connectors.CodeOf(err) != connectors.CodeNotFound {
			t.Fatal(err)
		}
	})
	data, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(data), "-- GET Patient/"+id+" --\nHTTP/1.1 200 OK\n") {
		t.Fatalf("recording: %s %v", data, err)
	}
	h := New(t, fhir.New(), Options{Recordings: []string{file}})
	replayed, err := h.Read(unified.Patients, id)
	if err != nil {
		t.Fatal(err)
	}
	if stripFetched(live) != stripFetched(replayed) {
		t.Fatalf("replay differs:\n%s\n%s", live, replayed)
	}
	if _, err := h.Read(unified.Patients, "gone"); connectors.CodeOf(err) != connectors.CodeNotFound {
		t.Fatal(err)
	}
	ft := &fakeT{TB: t}
	h2 := New(ft, fhir.New(), Options{Recordings: []string{file}})
	h2.Read(unified.Patients, "never-recorded")
	if len(ft.errs) == 0 || len(h2.replay.Misses()) != 1 {
		t.Fatal("a request with no recorded answer was not reported")
	}
}

func stripFetched(rec json.RawMessage) string {
	var m map[string]any
	json.Unmarshal(rec, &m)
	delete(m["source"].(map[string]any), "fetched_at")
	b, _ := json.Marshal(m)
	return string(b)
}

func TestReplayQueryOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.txtar")
	os.WriteFile(file, []byte("-- GET Patient?b=2&a=1&a=0 --\nHTTP/1.1 200 OK\nContent-Type: application/json\n\n{}\n"), 0o644)
	r, err := Replay(file)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := NewTransport(r, TransportOptions{})
	resp, err := tr.Do(context.Background(), &connectors.HTTPRequest{Path: "Patient", Query: []connectors.Param{{Name: "a", Value: "0"}, {Name: "a", Value: "1"}, {Name: "b", Value: "2"}}})
	if err != nil || resp.Status != 200 || resp.HeaderValue("content-type") != "application/json" || strings.TrimSpace(string(resp.Body)) != "{}" {
		t.Fatalf("%+v %v", resp, err)
	}
	if _, err := Replay(writeFile(t, dir, "-- Patient --\nHTTP/1.1 200 OK\n\n")); err == nil {
		t.Fatal("a section without a method was accepted")
	}
}

func writeFile(t *testing.T, dir, content string) string {
	f := filepath.Join(dir, "x.txtar")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGolden(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ok.txtar"), []byte("a case\n-- input.json --\n{\"x\":1}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.txtar"), []byte("-- input.json --\nnope\n"), 0o644)
	mapFn := func(t *testing.T, in []byte) (json.RawMessage, error) {
		if !json.Valid(in) {
			return nil, &connectors.Error{Code: connectors.CodeUpstream}
		}
		return json.RawMessage(in), nil
	}
	t.Run("update", func(t *testing.T) { Golden(t, filepath.Join(dir, "*.txtar"), true, mapFn) })
	t.Run("compare", func(t *testing.T) { Golden(t, filepath.Join(dir, "*.txtar"), false, mapFn) })
	ok, _ := os.ReadFile(filepath.Join(dir, "ok.txtar"))
	bad, _ := os.ReadFile(filepath.Join(dir, "bad.txtar"))
	if string(ok) != "a case\n-- input.json --\n{\"x\":1}\n-- want.json --\n{\n  \"x\": 1\n}\n" || !strings.HasSuffix(string(bad), "-- want.error --\nupstream\n") {
		t.Fatalf("written:\n%q\n%q", ok, bad)
	}
}
