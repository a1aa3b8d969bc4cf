package auditlog

import (
	"regexp"
	"strings"
	"sync"
	"testing"
)

var testKey = func() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}()

// TestPatientRefKnownAnswer pins the exact construction, since `ferry audit
// hash` and investigators' own tools must keep producing the same value. The
// expected value was computed outside Go:
//
//	python3 -c 'import hmac,hashlib,struct
//	p=lambda b: struct.pack(">Q",len(b))+b
//	m=b"".join(map(p,[b"ferry/audit/patient_ref/v1",b"acme",b"epic-prod",b"MRN-0012345"]))
//	print(hmac.new(bytes(range(32)),m,hashlib.sha256).hexdigest())'
func TestPatientRefKnownAnswer(t *testing.T) {
	got := PatientRef(testKey, "acme", "epic-prod", "MRN-0012345")
	const want = "hmac-sha256:4181d5064afa86fcb415ad5663d25c992250cdc2d2609ab094e7e70dabbabf19"
	if got != want {
		t.Errorf("PatientRef = %s, want %s", got, want)
	}
}

func TestPatientRefFormat(t *testing.T) {
	ref := PatientRef(testKey, "acme", "epic-prod", "12345")
	if !regexp.MustCompile(`^hmac-sha256:[0-9a-f]{64}$`).MatchString(ref) {
		t.Errorf("PatientRef = %q, want hmac-sha256: and 64 lowercase hex digits", ref)
	}
}

func TestPatientRefDeterministic(t *testing.T) {
	a := PatientRef(testKey, "acme", "epic-prod", "12345")
	b := PatientRef(append([]byte(nil), testKey...), "acme", "epic-prod", "12345")
	if a != b {
		t.Errorf("same inputs gave %s and %s", a, b)
	}
}

func TestPatientRefDistinct(t *testing.T) {
	otherKey := append([]byte(nil), testKey...)
	otherKey[0] ^= 1
	type in struct {
		key                   []byte
		tenant, conn, patient string
	}
	inputs := map[string]in{
		"base":               {testKey, "acme", "epic-prod", "12345"},
		"other key":          {otherKey, "acme", "epic-prod", "12345"},
		"other tenant":       {testKey, "acme2", "epic-prod", "12345"},
		"other connection":   {testKey, "acme", "epic-test", "12345"},
		"other patient":      {testKey, "acme", "epic-prod", "12346"},
		"tenant|conn shift":  {testKey, "ab", "c", "12345"},
		"tenant|conn shift'": {testKey, "a", "bc", "12345"},
		"conn|id shift":      {testKey, "acme", "ab", "c"},
		"conn|id shift'":     {testKey, "acme", "a", "bc"},
		"empty conn":         {testKey, "acme", "", "ab"},
		"empty tenant":       {testKey, "", "acme", "ab"},
	}
	seen := map[string]string{}
	for name, i := range inputs {
		ref := PatientRef(i.key, i.tenant, i.conn, i.patient)
		if prev, dup := seen[ref]; dup {
			t.Errorf("%q and %q give the same ref %s", prev, name, ref)
		}
		seen[ref] = name
	}
}

func TestPatientRefHidesID(t *testing.T) {
	for _, id := range []string{"MRN-0012345", "0012345", "Jane Doe 1970-01-01", "abc"} {
		ref := PatientRef(testKey, "acme", "epic-prod", id)
		if strings.Contains(ref, id) {
			t.Errorf("PatientRef(%q) = %s contains the id", id, ref)
		}
	}
}

func TestPatientRefEmpty(t *testing.T) {
	if got := PatientRef(testKey, "acme", "epic-prod", ""); got != "" {
		t.Errorf("no patient: got %q, want \"\"", got)
	}
	// An empty key would make the ref an unkeyed, brute-forceable hash of
	// the id, so it yields no ref at all.
	for _, key := range [][]byte{nil, {}} {
		if got := PatientRef(key, "acme", "epic-prod", "12345"); got != "" {
			t.Errorf("empty key: got %q, want \"\"", got)
		}
	}
}

// TestPatientRefsMatchPatientRef: the pooled form gives exactly
// PatientRef's references, for long parts too and under concurrent use,
// and reuses its state without carrying one reference into the next.
func TestPatientRefsMatchPatientRef(t *testing.T) {
	key := []byte(strings.Repeat("k", MinAuditKeyLen))
	refs := NewPatientRefs(key)
	if NewPatientRefs(nil).Ref("t", "c", "p") != "" || refs.Ref("t", "c", "") != "" {
		t.Fatal("an empty key or patient must give no reference")
	}
	long := strings.Repeat("x", 300)
	cases := [][3]string{{"acme", "ehr", "p-1"}, {"acme", "ehr", "p-2"}, {"a", "bc", "d"}, {"ab", "c", "d"}, {long, long, long}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				for _, c := range cases {
					if got, want := refs.Ref(c[0], c[1], c[2]), PatientRef(key, c[0], c[1], c[2]); got != want {
						t.Errorf("Ref%v = %s, PatientRef = %s", c, got, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := testing.AllocsPerRun(100, func() { refs.Ref("acme", "ehr", "p-1") }); n > 1 && !raceEnabled {
		t.Errorf("%.0f allocations per reference, want 1 (the string)", n)
	}
}
