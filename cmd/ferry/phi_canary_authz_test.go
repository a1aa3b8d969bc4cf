//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

// The PHI canary's authorization paths (docs/authorization.md): a client
// configured for pseudonyms pages through every resource of the canary
// patient and sees neither the patient's source id nor any identifier
// value, and a token-shaped credential carrying a marker is refused
// without the marker reaching a log, a metric or the audit trail (the
// canary's output checks cover those).

const canaryResearchKey = "canary-research-key-0123456789"

// canaryResearchClient is the pseudonymized client added to the canary's
// config.
func canaryResearchClient() map[string]any {
	sum := sha256.Sum256([]byte(canaryResearchKey))
	return map[string]any{"id": "research", "tenant": "demo", "api_key_sha256": hex.EncodeToString(sum[:]),
		"connections": []string{"demo"}, "policy": map[string]any{"pseudonyms": map[string]any{"identifiers": "drop"}}}
}

func checkCanaryAuthorization(t *testing.T, c *canaryClient, pid string, capab unified.Capabilities) {
	t.Helper()
	research := map[string]string{"Authorization": "Bearer " + canaryResearchKey}
	real := []string{pid, "ZQXCANARY-MRN-7731", "ZQXCANARY-IDMR-7731", "ZQXCANARY-SUBSCRIBERID-7731"}
	leaks := func(what string, body []byte) {
		t.Helper()
		for _, r := range real {
			if strings.Contains(string(body), r) {
				t.Errorf("the pseudonymized client's %s carries %q", what, r)
			}
		}
	}
	r := c.do("GET", c.conn+"/patients?name=ZQXCANARY-FAMILY-7731", research, "")
	var pats struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &pats) != nil || len(pats.Data) != 1 {
		t.Fatalf("pseudonymized patient search: %d %.300s", r.status, r.body)
	}
	leaks("patient search", r.body)
	pseudo := pats.Data[0].ID
	if r := c.do("GET", c.conn+"/patients/"+url.PathEscape(pseudo), research, ""); r.status != 200 {
		t.Errorf("read by pseudonym: %d %.300s", r.status, r.body)
	} else {
		leaks("patient read", r.body)
	}
	seen := 0
	for _, rc := range capab.Resources {
		if !slices.ContainsFunc(rc.Filters, func(f unified.FilterCapability) bool { return f.Name == unified.FilterPatientID }) {
			continue
		}
		r := c.do("GET", c.conn+"/"+string(rc.Resource)+"?limit=50&patient_id="+url.QueryEscape(pseudo), research, "")
		if r.status != 200 {
			t.Errorf("%s by pseudonym: %d %.300s", rc.Resource, r.status, r.body)
			continue
		}
		seen++
		leaks(string(rc.Resource)+" search", r.body)
	}
	if seen == 0 {
		t.Error("no resource searched with a pseudonym")
	}
	// A marker in a token-shaped credential is refused, and the canary's
	// output checks find it nowhere.
	if r := c.do("GET", c.conn+"/patients/"+pid, map[string]string{"Authorization": "Bearer ZQXCANARY-TOKEN-7731.eyJ6cXgiOjF9.c2ln"}, ""); r.status != 401 {
		t.Errorf("a canary token: %d", r.status)
	}
}
