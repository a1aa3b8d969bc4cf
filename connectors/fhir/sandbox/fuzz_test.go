package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzSearch sends arbitrary query strings: the answer is a searchset or a
// 400 OperationOutcome, never a panic or another status.
func FuzzSearch(f *testing.F) {
	for _, seed := range []string{
		"Observation?patient=x&code=a|b&date=ge2010-01-01T10:00:00.5%2B05:00",
		"MedicationRequest?_include=MedicationRequest:medication&code=\\|,\\\\&_count=3&_offset=2",
		"Patient?name=jos%C3%A9&birthdate=le1913&identifier=|",
		"Encounter?date=2010-05&date=lt2011&class=,",
		"Appointment?patient=http://x/fhir/Patient/p&date=eq2027",
	} {
		f.Add(seed)
	}
	h := New(Options{}).Handler()
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.NewRequest(http.MethodGet, "http://sandbox.test"+Prefix+"/"+target, nil)
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var r struct{ ResourceType string }
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("%s: not JSON: %v", target, err)
		}
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusNotFound:
			if r.ResourceType != "OperationOutcome" {
				t.Fatalf("%s: status %d with %s", target, rec.Code, r.ResourceType)
			}
		default:
			t.Fatalf("%s: status %d", target, rec.Code)
		}
	})
}

// FuzzParseDate: a date either fails to parse or covers a non-empty range.
func FuzzParseDate(f *testing.F) {
	for _, seed := range []string{"2010", "2010-03", "2010-03-02", "2010-03-02T10:00", "2010-03-02T10:00:00.123-05:00", "2010-03-02T24:00:00Z"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, ok := parseDate(s)
		if ok && !lo.Before(hi) {
			t.Fatalf("%q: empty range %v–%v", s, lo, hi)
		}
	})
}
