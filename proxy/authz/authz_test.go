package authz

import (
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		ctx  Context
		res  unified.ResourceType
		ops  Op
		filt int
	}{
		{"system/Observation.rs?category=vital-signs", true, ContextSystem, unified.Observations, OpRead | OpSearch, 1},
		{"system/*.rs", true, ContextSystem, "", OpRead | OpSearch, 0},
		{"patient/Condition.rs", true, ContextPatient, unified.Conditions, OpRead | OpSearch, 0},
		{"user/Patient.cruds", true, ContextUser, unified.Patients, OpCreate | OpRead | OpUpdate | OpDelete | OpSearch, 0},
		{"patient/Observation.cu", true, ContextPatient, unified.Observations, OpCreate | OpUpdate, 0},
		{"patient/*.read", true, ContextPatient, "", OpRead | OpSearch, 0},
		{"system/MedicationRequest.r", true, ContextSystem, unified.Medications, OpRead, 0},
		{"system/Observation.sr", false, 0, "", 0, 0},        // out of order
		{"system/Observation.rr", false, 0, "", 0, 0},        // repeated
		{"system/Spaceship.rs", false, 0, "", 0, 0},          // no such type
		{"system/Observation.rs?_has=x", false, 0, "", 0, 0}, // a restriction Ferry cannot force
		{"system/Observation.rs?category=a&category=b", false, 0, "", 0, 0},
		{"openid", false, 0, "", 0, 0},
		{"launch/patient", false, 0, "", 0, 0},
	} {
		sc, err := ParseScope(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && (sc.Context != tc.ctx || sc.Resource != tc.res || sc.Ops != tc.ops || len(sc.Filters) != tc.filt) {
			t.Errorf("%s: %+v", tc.in, sc)
		}
	}
}

func TestGrantChoosesTheWidestAgreeingScope(t *testing.T) {
	g := NewGrant([]string{"patient/Observation.rs", "system/Observation.rs?category=laboratory", "openid"})
	if g.Text() != "patient/Observation.rs system/Observation.rs?category=laboratory" {
		t.Fatalf("text %q", g.Text())
	}
	a, ok := g.Allow(unified.Observations, OpSearch, nil)
	if !ok || !a.Compartment || len(a.Filters) != 0 {
		t.Fatalf("unrestricted patient scope should win: %+v %v", a, ok)
	}
	if _, ok := g.Allow(unified.Conditions, OpSearch, nil); ok {
		t.Fatal("conditions allowed")
	}
	if _, ok := g.Allow(unified.Observations, OpCreate, nil); ok {
		t.Fatal("create allowed by rs scopes")
	}
	r := NewGrant([]string{"system/Observation.rs?category=vital-signs", "system/Observation.rs?category=laboratory"})
	a, ok = r.Allow(unified.Observations, OpSearch, map[string]string{"category": "laboratory"})
	if !ok || a.Filters[0].Value != "laboratory" {
		t.Fatalf("the agreeing restriction: %+v %v", a, ok)
	}
	if _, ok := r.Allow(unified.Observations, OpSearch, map[string]string{"category": "imaging"}); ok {
		t.Fatal("a search outside both restrictions allowed")
	}
	if r.Passthrough() || !NewGrant([]string{"system/*.rs"}).Passthrough() || NewGrant([]string{"patient/*.rs"}).Passthrough() {
		t.Fatal("passthrough")
	}
}

func TestAdmits(t *testing.T) {
	vital := []Filter{{Name: "category", Value: "vital-signs"}}
	obs := []byte(`{"id":"o1","categories":[{"codings":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"patient":{"resource":"patients","id":"p1"}}`)
	if !Admits(unified.Observations, obs, vital, "p1") {
		t.Fatal("a matching record refused")
	}
	if Admits(unified.Observations, obs, vital, "p2") {
		t.Fatal("another patient's record admitted")
	}
	if Admits(unified.Observations, obs, []Filter{{Name: "category", Value: "laboratory"}}, "") {
		t.Fatal("a record outside the restriction admitted")
	}
	if Admits(unified.Observations, []byte(`{"id":"o1"}`), nil, "p1") {
		t.Fatal("a record with no patient admitted to a compartment")
	}
	if !Admits(unified.Practitioners, []byte(`{"id":"d1"}`), nil, "p1") {
		t.Fatal("a practitioner refused to a compartment")
	}
	if Admits(unified.Allergies, []byte(`{"categories":["food"],"patient":{"id":"p1"}}`), []Filter{{Name: "category", Value: "medication"}}, "p1") ||
		!Admits(unified.Allergies, []byte(`{"categories":["food"],"patient":{"id":"p1"}}`), []Filter{{Name: "category", Value: "food"}}, "p1") {
		t.Fatal("allergy categories")
	}
	if Admits(unified.Observations, []byte(`not json`), nil, "p1") {
		t.Fatal("garbage admitted")
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"system/Observation.rs?category=vital-signs", "patient/*.cruds", "user/Patient.read", "a/b.c?d=e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err == nil && (sc.Ops == 0 || sc.Context == 0) {
			t.Fatalf("%q parsed to %+v", s, sc)
		}
	})
}
