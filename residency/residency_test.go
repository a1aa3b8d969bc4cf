package residency

import (
	"errors"
	"testing"
)

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		node, home string
		mode       Mode
		forwarded  bool
		want       Action
	}{
		{"eu", "eu", Redirect, false, Serve},
		{"eu", "eu", Forward, true, Serve},
		{"local", "", Redirect, false, Serve}, // no regions declared
		{"us", "eu", Redirect, false, Misdirect},
		{"us", "eu", Forward, false, Relay},
		{"us", "eu", Forward, true, Misdirect}, // the loop guard
		{"us", "eu", Redirect, true, Misdirect},
	} {
		if got := Decide(c.node, c.home, c.mode, c.forwarded); got != c.want {
			t.Errorf("Decide(%q, %q, %s, %v) = %s, want %s", c.node, c.home, c.mode, c.forwarded, got, c.want)
		}
	}
}

func TestTenantRegions(t *testing.T) {
	tn := Tenant{Home: "eu", Allowed: []string{"uk", "eu", "uk"}}
	if !tn.Allows("eu") || !tn.Allows("uk") || tn.Allows("us") || tn.Allows("") {
		t.Fatal("Allows")
	}
	if got := tn.Regions(); len(got) != 2 || got[0] != "eu" || got[1] != "uk" {
		t.Fatalf("Regions() = %v", got)
	}
	r := Region{Name: "eu", AWSRegions: []string{"eu-west-1"}}
	if !r.HasAWSRegion("eu-west-1") || r.HasAWSRegion("us-east-1") || r.HasAWSRegion("") {
		t.Fatal("HasAWSRegion")
	}
	if !(Region{Name: "eu-central-1"}).HasAWSRegion("eu-central-1") {
		t.Fatal("a region named like an AWS region holds it")
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Redirect, "redirect": Redirect, "forward": Forward} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("proxy"); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestCheckEndpoint(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://eu.ferry.example":           true,
		"https://eu.ferry.example:8443/api/": true,
		"http://eu.ferry.example":            false,
		"http://127.0.0.1:8080":              false, // without dev mode
		"https://u:p@eu.ferry.example":       false,
		"https://eu.ferry.example/?x=1":      false,
		"https://eu.ferry.example/#f":        false,
		"https://eu.ferry.example/a/../b":    false,
		"ftp://eu.ferry.example":             false,
		"eu.ferry.example":                   false,
		"":                                   false,
	} {
		err := CheckEndpoint(raw, false)
		if (err == nil) != ok {
			t.Errorf("CheckEndpoint(%q) = %v", raw, err)
		}
		if err != nil && !errors.Is(err, ErrEndpoint) {
			t.Errorf("CheckEndpoint(%q): %v is not ErrEndpoint", raw, err)
		}
	}
	for _, raw := range []string{"http://127.0.0.1:8080", "http://[::1]:1", "http://localhost:9"} {
		if err := CheckEndpoint(raw, true); err != nil {
			t.Errorf("dev loopback %q: %v", raw, err)
		}
	}
	if CheckEndpoint("http://10.0.0.1", true) == nil {
		t.Error("plain http off loopback accepted")
	}
}

func TestValidName(t *testing.T) {
	if !ValidName("eu") || !ValidName("eu-west_2") || ValidName("EU") || ValidName("") || ValidName("-eu") {
		t.Fatal("ValidName")
	}
}
