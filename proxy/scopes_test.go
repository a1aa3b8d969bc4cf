//go:build unix

package proxy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
	"github.com/ferryhealth/ferry/internal/testpeer"
	"github.com/ferryhealth/ferry/unified"
)

// The scope matrix and the patient compartment, with tokens from the npm
// oidc-provider against the sandbox FHIR source. Run alone:
// go test ./proxy -run 'ScopeMatrix|Compartment'

type record struct {
	ID         string `json:"id"`
	Categories []struct {
		Codings []struct{ Code string } `json:"codings"`
	} `json:"categories"`
	Patient *struct{ ID string } `json:"patient"`
}

type page struct {
	Data []record `json:"data"`
	Next string   `json:"next_cursor"`
}

func decodePage(t *testing.T, r result) page {
	t.Helper()
	var p page
	if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
		t.Fatalf("search: %d %s", r.status, r.body)
	}
	return p
}

func hasCategory(r record, code string) bool {
	for _, c := range r.Categories {
		for _, cd := range c.Codings {
			if cd.Code == code {
				return true
			}
		}
	}
	return false
}

// scopeEnv is the proxy with a token client per scope under test, all of
// tenant demo's issuer (the OIDC peer).
type scopeEnv struct {
	*env
	op       *testpeer.OIDC
	patient  string // the compartment's patient (the token claim)
	other    string // another patient with records
	obsOwn   string // an observation of patient
	obsOther string // an observation of other
	labObs   string // a laboratory observation
}

var matrixScopes = []string{
	"system/*.rs", "system/Patient.rs", "system/Observation.rs?category=vital-signs", "system/Observation.r",
	"user/*.rs", "patient/*.rs", "patient/Condition.rs", "openid",
}

func startScopes(t *testing.T) *scopeEnv {
	t.Helper()
	ids := sandbox.New(sandbox.Options{}).RecordPatientIDs()
	se := &scopeEnv{patient: ids[0], other: ids[1]}
	var clients []testpeer.OIDCClient
	for i, sc := range matrixScopes {
		clients = append(clients, testpeer.OIDCClient{ID: clientFor(i), Scope: sc, Claims: map[string]any{"patient": se.patient}})
	}
	se.op = testpeer.StartOIDC(t, testpeer.OIDCOptions{Audience: audDemo, Scopes: strings.Join(matrixScopes, " "), Clients: clients})
	ti := startTestIssuer(t)
	se.env = startWithIssuers(t, se.op, ti, func(c map[string]any) {
		for i := range matrixScopes {
			c["clients"] = append(c["clients"].([]any), map[string]any{"id": clientFor(i), "tenant": "demo",
				"oauth_client_id": clientFor(i), "connections": []string{"demo"}, "scopes": []string{"read", "passthrough"}})
		}
	})
	own := decodePage(t, se.do(t, "GET", "/v1/demo/observations?limit=50&patient_id="+se.patient, keyDemo, nil))
	oth := decodePage(t, se.do(t, "GET", "/v1/demo/observations?limit=5&patient_id="+se.other, keyDemo, nil))
	lab := decodePage(t, se.do(t, "GET", "/v1/demo/observations?limit=1&category=laboratory&patient_id="+se.patient, keyDemo, nil))
	if len(own.Data) == 0 || len(oth.Data) == 0 || len(lab.Data) == 0 {
		t.Fatal("the sandbox has no observations to test with")
	}
	se.obsOwn, se.obsOther, se.labObs = own.Data[0].ID, oth.Data[0].ID, lab.Data[0].ID
	return se
}

func clientFor(i int) string { return "scope-client-" + string(rune('a'+i)) }

func (se *scopeEnv) token(t *testing.T, scope string) string {
	for i, sc := range matrixScopes {
		if sc == scope {
			return se.op.Token(t, clientFor(i), scope)
		}
	}
	t.Fatalf("no client for %q", scope)
	return ""
}

func TestScopeMatrix(t *testing.T) {
	se := startScopes(t)
	type row struct {
		scope, path string
		status      int
		code        string
	}
	p, o := se.patient, se.other
	rows := []row{
		{"system/*.rs", "/v1/demo/patients/" + o, 200, ""},
		{"system/*.rs", "/v1/demo/observations?patient_id=" + o, 200, ""},
		{"system/*.rs", "/v1/demo/passthrough/Patient?_count=1", 200, ""},
		{"system/*.rs", "/v1/demo/capabilities", 200, ""},
		{"user/*.rs", "/v1/demo/conditions?patient_id=" + o, 200, ""},
		{"system/Patient.rs", "/v1/demo/patients?limit=2", 200, ""},
		{"system/Patient.rs", "/v1/demo/observations?patient_id=" + p, 403, "insufficient_scope"},
		{"system/Patient.rs", "/v1/demo/passthrough/Patient", 403, "insufficient_scope"},
		{"system/Observation.rs?category=vital-signs", "/v1/demo/observations?patient_id=" + p, 200, ""},
		{"system/Observation.rs?category=vital-signs", "/v1/demo/observations?category=vital-signs&patient_id=" + p, 200, ""},
		{"system/Observation.rs?category=vital-signs", "/v1/demo/observations?category=laboratory&patient_id=" + p, 403, "insufficient_scope"},
		{"system/Observation.rs?category=vital-signs", "/v1/demo/observations/" + se.labObs, 404, "not_found"},
		{"system/Observation.rs?category=vital-signs", "/v1/demo/patients/" + p, 403, "insufficient_scope"},
		{"system/Observation.r", "/v1/demo/observations/" + se.obsOther, 200, ""},
		{"system/Observation.r", "/v1/demo/observations?patient_id=" + p, 403, "insufficient_scope"},
		{"patient/*.rs", "/v1/demo/patients/" + p, 200, ""},
		{"patient/*.rs", "/v1/demo/observations/" + se.obsOwn, 200, ""},
		{"patient/*.rs", "/v1/demo/passthrough/Patient", 403, "insufficient_scope"},
		{"patient/Condition.rs", "/v1/demo/conditions", 200, ""},
		{"patient/Condition.rs", "/v1/demo/observations?patient_id=" + p, 403, "insufficient_scope"},
		{"openid", "/v1/demo/patients/" + p, 403, "insufficient_scope"},
	}
	tokens := map[string]string{}
	for _, r := range rows {
		if tokens[r.scope] == "" {
			tokens[r.scope] = se.token(t, r.scope)
		}
		res := se.do(t, "GET", r.path, tokens[r.scope], nil)
		if res.status != r.status || (r.code != "" && !strings.Contains(string(res.body), `"code":"`+r.code+`"`)) {
			t.Errorf("%s GET %s: %d %s, want %d %s", r.scope, r.path, res.status, res.body, r.status, r.code)
		}
		if r.code == "insufficient_scope" && res.header.Get("WWW-Authenticate") != challengeInsufficientScope {
			t.Errorf("%s GET %s: WWW-Authenticate %q", r.scope, r.path, res.header.Get("WWW-Authenticate"))
		}
	}
	// The restriction is forced on the search, and every answer keeps it.
	vs := decodePage(t, se.do(t, "GET", "/v1/demo/observations?limit=50&patient_id="+p, tokens["system/Observation.rs?category=vital-signs"], nil))
	if len(vs.Data) == 0 {
		t.Fatal("no vital signs for the restricted scope")
	}
	for _, r := range vs.Data {
		if !hasCategory(r, "vital-signs") {
			t.Fatalf("a record outside category=vital-signs reached the client: %s", r.ID)
		}
	}
}

func TestCompartmentEscapes(t *testing.T) {
	se := startScopes(t)
	tok := se.token(t, "patient/*.rs")
	p := se.patient
	missing := func(name string, r result) {
		t.Helper()
		if r.status != 404 || !strings.Contains(string(r.body), `"code":"not_found"`) {
			t.Fatalf("%s: %d %s, want 404 not_found", name, r.status, r.body)
		}
	}
	missing("another patient's observation by id", se.do(t, "GET", "/v1/demo/observations/"+se.obsOther, tok, nil))
	missing("another patient by id", se.do(t, "GET", "/v1/demo/patients/"+se.other, tok, nil))
	missing("a patient that does not exist", se.do(t, "GET", "/v1/demo/patients/no-such-patient", tok, nil))

	// Without patient_id the search is the compartment's.
	all := decodePage(t, se.do(t, "GET", "/v1/demo/observations?limit=20", tok, nil))
	if len(all.Data) == 0 {
		t.Fatal("the compartment's search found nothing")
	}
	for _, r := range all.Data {
		if r.Patient == nil || r.Patient.ID != p {
			t.Fatalf("a record of another patient reached the compartment: %s", r.ID)
		}
	}
	// Another patient_id finds what a missing patient would: nothing.
	if other := decodePage(t, se.do(t, "GET", "/v1/demo/observations?patient_id="+se.other, tok, nil)); len(other.Data) != 0 || other.Next != "" {
		t.Fatalf("a search for another patient answered %d records", len(other.Data))
	}
	// patients answers only the compartment's patient.
	// patients answers the patient alone, with no cursor to page through
	// the source's other patients (whose count it would reveal).
	pats := decodePage(t, se.do(t, "GET", "/v1/demo/patients?limit=2", tok, nil))
	if len(pats.Data) != 1 || pats.Data[0].ID != p || pats.Next != "" {
		t.Fatalf("patients search in the compartment: %+v", pats)
	}
	// A cursor of another compartment (the same client id, another
	// patient claim: a system client's cursor here) does not open.
	sys := se.token(t, "system/*.rs")
	wide := decodePage(t, se.do(t, "GET", "/v1/demo/observations?limit=2&patient_id="+se.other, sys, nil))
	if wide.Next == "" {
		t.Fatal("no cursor to reuse")
	}
	if r := se.do(t, "GET", "/v1/demo/observations?cursor="+url.QueryEscape(wide.Next), tok, nil); r.status != 400 || !strings.Contains(string(r.body), "invalid_cursor") {
		t.Fatalf("cursor of another compartment: %d %s", r.status, r.body)
	}
	own := decodePage(t, se.do(t, "GET", "/v1/demo/observations?limit=2", tok, nil))
	if own.Next != "" {
		if r := se.do(t, "GET", "/v1/demo/observations?cursor="+url.QueryEscape(own.Next), tok, nil); r.status != 200 {
			t.Fatalf("the compartment's own cursor: %d %s", r.status, r.body)
		}
	}
	if r := se.do(t, "GET", "/v1/demo/passthrough/Observation", tok, nil); r.status != 403 {
		t.Fatalf("passthrough with a patient token: %d %s", r.status, r.body)
	}
	// Every escape is in the audit trail, flagged.
	refused := 0
	for _, ev := range se.audit.events(t) {
		if ev["authz_refusal"] == "compartment" {
			refused++
		}
	}
	if refused < 4 {
		t.Fatalf("%d compartment refusals audited, want at least 4", refused)
	}
	_ = unified.Patients
}
