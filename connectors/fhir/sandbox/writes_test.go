package sandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func do(h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestWrites: a create, conditional or not, an update with If-Match, each
// versioned, seen by reads and searches of the same server only.
func TestWrites(t *testing.T) {
	s := New(Options{})
	h := s.Handler()
	patient := s.RecordPatientIDs()[0]
	body := `{"resourceType":"Appointment","status":"booked","start":"2027-01-01T10:00:00Z","identifier":[{"system":"urn:x","value":"a|1"}],` +
		`"participant":[{"actor":{"reference":"Patient/` + patient + `"},"status":"accepted"}]}`
	cond := `identifier=urn:x|a\|1`

	// 20 conditional creates at once: one resource.
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- do(h, "POST", Prefix+"/Appointment", body, "If-None-Exist", cond).Code
		}()
	}
	wg.Wait()
	close(codes)
	created := 0
	for c := range codes {
		if c == http.StatusCreated {
			created++
		} else if c != http.StatusOK {
			t.Fatalf("conditional create: %d", c)
		}
	}
	if created != 1 {
		t.Fatalf("%d created", created)
	}
	rec, _ := collect(t, h, Prefix+"/Appointment?patient="+patient+"&_count=200")
	var id string
	for _, got := range rec {
		if strings.HasPrefix(got, "w-") {
			if id != "" {
				t.Fatalf("two written appointments: %v", rec)
			}
			id = got
		}
	}
	if id == "" {
		t.Fatalf("the written appointment is not found by a search: %v", rec)
	}
	r := do(h, "GET", Prefix+"/Appointment/"+id, "")
	if r.Code != 200 || r.Header().Get("ETag") != `W/"1"` || !strings.Contains(r.Body.String(), `"versionId":"1"`) {
		t.Fatalf("read: %d %v %s", r.Code, r.Header(), r.Body)
	}
	upd := strings.Replace(body, `"booked"`, `"cancelled"`, 1)
	if r := do(h, "PUT", Prefix+"/Appointment/"+id, upd, "If-Match", `W/"2"`); r.Code != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d", r.Code)
	}
	if r := do(h, "PUT", Prefix+"/Appointment/"+id, upd, "If-Match", `W/"1"`); r.Code != 200 || r.Header().Get("ETag") != `W/"2"` {
		t.Fatalf("update: %d %v", r.Code, r.Header())
	}
	// Another server (another demo) never sees it.
	if r := do(New(Options{}).Handler(), "GET", Prefix+"/Appointment/"+id, ""); r.Code != 404 {
		t.Fatalf("a write leaked into the shared store: %d", r.Code)
	}
	for _, bad := range []struct{ method, target, body string }{
		{"POST", Prefix + "/Appointment", `{"resourceType":"Patient"}`},
		{"POST", Prefix + "/Appointment", `not json`},
		{"PUT", Prefix + "/Appointment", body},
		{"POST", Prefix + "/Spaceship", body},
	} {
		if r := do(h, bad.method, bad.target, bad.body); r.Code < 400 {
			t.Fatalf("%s %s %s: %d", bad.method, bad.target, bad.body, r.Code)
		}
	}
}
