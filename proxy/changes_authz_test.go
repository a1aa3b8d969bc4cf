//go:build unix

package proxy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestChangeFeedAuthorization: a change feed is a search, so a scope's
// restriction and the patient compartment are forced on it and every
// record is checked again; another patient's feed is empty, a patients
// feed is refused to a patient token (it would follow every patient), and a
// feed's cursor does not cross compartments.
func TestChangeFeedAuthorization(t *testing.T) {
	se := startScopes(t)
	patientTok := se.token(t, "patient/*.rs")
	vitalsTok := se.token(t, "system/Observation.rs?category=vital-signs")
	since := "since=1900-01-01T00:00:00Z"
	type feed struct {
		Data    []record `json:"data"`
		Next    string   `json:"next_cursor"`
		HasMore *bool    `json:"has_more"`
	}
	poll := func(path, tok string) feed {
		t.Helper()
		r := se.do(t, "GET", path, tok, nil)
		var f feed
		if r.status != 200 || json.Unmarshal(r.body, &f) != nil || f.Next == "" || f.HasMore == nil {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		return f
	}

	own := poll("/v1/demo/observations/_changes?limit=50&"+since, patientTok)
	if len(own.Data) == 0 {
		t.Fatalf("the compartment's feed returned nothing: %+v", own)
	}
	for _, r := range own.Data {
		if r.Patient == nil || r.Patient.ID != se.patient {
			t.Fatalf("a record of another patient reached the compartment's feed: %s", r.ID)
		}
	}
	if other := poll("/v1/demo/observations/_changes?"+since+"&patient_id="+se.other, patientTok); len(other.Data) != 0 || *other.HasMore {
		t.Fatalf("another patient's feed answered %d records, has_more %v", len(other.Data), *other.HasMore)
	}
	if r := se.do(t, "GET", "/v1/demo/patients/_changes?"+since, patientTok, nil); r.status != 403 || !strings.Contains(string(r.body), "insufficient_scope") {
		t.Fatalf("patients feed with a patient token: %d %s", r.status, r.body)
	}

	vitals := poll("/v1/demo/observations/_changes?limit=50&"+since+"&patient_id="+se.patient, vitalsTok)
	if len(vitals.Data) == 0 {
		t.Fatal("no vital signs in the restricted feed")
	}
	for _, r := range vitals.Data {
		if !hasCategory(r, "vital-signs") {
			t.Fatalf("a record outside category=vital-signs reached the restricted feed: %s", r.ID)
		}
	}
	// The vital-signs client's cursor is not the patient's.
	if r := se.do(t, "GET", "/v1/demo/observations/_changes?cursor="+url.QueryEscape(vitals.Next), patientTok, nil); r.status != 400 || !strings.Contains(string(r.body), "invalid_cursor") {
		t.Fatalf("a feed cursor of another compartment: %d %s", r.status, r.body)
	}
	// The compartment's own cursor carries on.
	poll("/v1/demo/observations/_changes?cursor="+url.QueryEscape(own.Next), patientTok)
}
