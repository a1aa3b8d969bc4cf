package connectors

import "testing"

// The host's rules for a connector's source requests. proxy's own tests hold
// the same cases; the SDK publishes the rules so sdktest and the conformance
// kit enforce exactly what the host does.
func TestValidRelativePath(t *testing.T) {
	for p, want := range map[string]bool{
		"Patient/123": true, "Patient": true, "Patient/a.b-c": true, "Observation/_search": true, "a/b:c": true,
		"": false, "/Patient": false, "../Patient": false, "Patient/../x": false, "%2e%2e/x": false,
		"Patient/%2E%2e": false, "a/%2F/b": false, "http://evil/x": false, "//evil/x": false, "c:x": false,
		"Patient?x=1": false, "Patient#x": false, "a\\b": false, "a b": false, "a\x00": false, "Patient/.": false,
		"a/%zz": false,
	} {
		if got := ValidRelativePath(p); got != want {
			t.Errorf("ValidRelativePath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestMethodAndHeaderRules(t *testing.T) {
	for m, want := range map[string]bool{"": true, "GET": true, "HEAD": true, "POST": false, "get": false, "DELETE": false} {
		if ReadMethod(m) != want {
			t.Errorf("ReadMethod(%q) != %v", m, want)
		}
	}
	if !RequestHeaderAllowed("Accept") || RequestHeaderAllowed("Authorization") || RequestHeaderAllowed("Host") {
		t.Error("request header allowlist")
	}
	if !ResponseHeaderAllowed("ETag") || ResponseHeaderAllowed("Set-Cookie") || ResponseHeaderAllowed("WWW-Authenticate") {
		t.Error("response header allowlist")
	}
}
