package unified

import (
	"slices"
	"testing"
)

// TestEveryResourceHasTheCommonFields pins the pattern every record follows,
// so a new resource type cannot forget its provenance or raw block.
func TestEveryResourceHasTheCommonFields(t *testing.T) {
	if got := len(ResourceTypes()); got != 15 {
		t.Fatalf("%d resource types, want 15", got)
	}
	for _, r := range ResourceTypes() {
		if !r.Known() || r.GoType() == nil {
			t.Fatalf("%s: not registered", r)
		}
		f := r.Fields()
		if f[0] != "id" {
			t.Errorf("%s: first field %q, want id", r, f[0])
		}
		for _, want := range []string{"updated_at", "source", "raw"} {
			if !slices.Contains(f, want) {
				t.Errorf("%s: no %q field", r, want)
			}
		}
	}
	if ResourceType("binary").Known() || ResourceType("binary").Fields() != nil {
		t.Error("an unknown resource type is known")
	}
}

func TestNormalizeFilter(t *testing.T) {
	cases := []struct {
		kind FilterKind
		in   string
		want string
		ok   bool
	}{
		{FilterToken, "loinc|8867-4", SystemLOINC + "|8867-4", true},
		{FilterToken, "LOINC|8867-4", SystemLOINC + "|8867-4", true},
		{FilterToken, "urn:oid:2.16.840.1.113883.6.96|44054006", SystemSNOMED + "|44054006", true},
		{FilterToken, "http://example.org/codes|A1", "http://example.org/codes|A1", true},
		{FilterToken, "|A1", "|A1", true},
		{FilterToken, "final", "final", true},
		{FilterToken, "a|b|c", "", false},
		{FilterToken, "loinc|", "", false},
		{FilterToken, "a,b", "", false},
		{FilterToken, "two words", "", false},
		{FilterDate, "2024", "2024", true},
		{FilterDate, "2024-02", "2024-02", true},
		{FilterDate, "2024-02-29", "2024-02-29", true},
		{FilterDate, "2023-02-29", "", false},
		{FilterDate, "2024-02-29T10:00:00Z", "2024-02-29T10:00:00Z", true},
		{FilterDate, "2024-02-29T10:00:00+01:00", "2024-02-29T10:00:00+01:00", true},
		{FilterDate, "yesterday", "", false},
		{FilterID, "abc-123.x", "abc-123.x", true},
		{FilterID, "..", "", false},
		{FilterID, "a/b", "", false},
		{FilterString, "Smith, John", "Smith, John", true},
		{FilterString, "a\nb", "", false},
		{FilterString, "", "", false},
	}
	for _, c := range cases {
		got, ok := NormalizeFilter(c.kind, c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("NormalizeFilter(%s, %q) = %q, %v; want %q, %v", c.kind, c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestKnownSystems(t *testing.T) {
	c := NewCoding("urn:oid:2.16.840.1.113883.6.1", "8867-4", "Heart rate")
	if c.System != SystemLOINC || c.SystemName != "loinc" {
		t.Errorf("LOINC OID coding: %+v", c)
	}
	for _, uri := range []string{SystemLOINC, SystemSNOMED, SystemRxNorm, SystemICD10CM, SystemCVX, SystemNDC} {
		if SystemName(uri) == "" {
			t.Errorf("%s is not recognised", uri)
		}
	}
	if c := NewCoding("http://example.org/local", "x", ""); c.SystemName != "" || c.System != "http://example.org/local" {
		t.Errorf("a local system was changed: %+v", c)
	}
}
