package mapping

import (
	"testing"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

func TestCoding(t *testing.T) {
	c, ok := Coding(" LN ", "8867-4", "Heart rate")
	if !ok || c.System != unified.SystemLOINC || c.SystemName != "loinc" || c.Code != "8867-4" {
		t.Fatalf("HL7 name: %+v", c)
	}
	c, ok = Coding("urn:oid:2.16.840.1.113883.6.96", "38341003", "")
	if !ok || c.System != unified.SystemSNOMED {
		t.Fatalf("OID alias: %+v", c)
	}
	c, ok = Coding("http://acme.example/codes", "X1", "local")
	if !ok || c.System != "http://acme.example/codes" || c.SystemName != "" {
		t.Fatalf("local system: %+v", c)
	}
	if _, ok := Coding(unified.SystemLOINC, " ", "x"); ok {
		t.Fatal("empty code accepted")
	}
	if Concept("", unified.Coding{}) != nil {
		t.Fatal("empty concept not nil")
	}
	if got := Concept("Pulse", unified.Coding{}, c); got == nil || len(got.Codings) != 1 || got.Text != "Pulse" {
		t.Fatalf("concept: %+v", got)
	}
}

func TestGender(t *testing.T) {
	for in, want := range map[string]string{"M": "male", "f": "female", "Other": "other", "A": "other", "U": "unknown", "N": "unknown", "female": "female"} {
		if got, ok := Gender(in); !ok || got != want {
			t.Errorf("Gender(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := Gender("Z"); ok {
		t.Error("Gender(Z) mapped")
	}
}

func TestDate(t *testing.T) {
	for in, want := range map[string]string{
		"1970": "1970", "1970-04": "1970-04", "1970-04-25": "1970-04-25", "19700425": "1970-04-25",
		"197004": "1970-04", "197004251230": "1970-04-25", "2024-03-07T10:15:00-05:00": "2024-03-07",
		"20240307101500.1234+0100": "2024-03-07",
	} {
		if got, ok := Date(in); !ok || got != want {
			t.Errorf("Date(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "70", "1970-13", "20230230", "1970-04-25T", "19700425+0100", "abcd", "1970042", "2024-03-07T10:15:00", "19700425123060"} {
		if got, ok := Date(in); ok {
			t.Errorf("Date(%q) = %q, accepted", in, got)
		}
	}
}

func TestDateTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600) // no tzdata on this machine
	}
	cases := []struct {
		in   string
		zone *time.Location
		want string
	}{
		{"2024", nil, "2024"},
		{"2024-03-07T10:15:00-05:00", nil, "2024-03-07T10:15:00-05:00"},
		{"20240307", ny, "2024-03-07"},
		{"202403071015-0500", nil, "2024-03-07T10:15:00-05:00"},
		{"2024030710+0000", nil, "2024-03-07T10:00:00Z"},
		{"20240307101530.25+0530", nil, "2024-03-07T10:15:30.25+05:30"},
		{"202403071015", nil, "2024-03-07"}, // no offset, no zone: cut to the date
		{"202401071015", ny, "2024-01-07T10:15:00-05:00"},
		{"2024-01-07T10:15:00", time.UTC, "2024-01-07T10:15:00Z"},
		{"2024-01-07T10:15:00", nil, "2024-01-07"},
	}
	for _, c := range cases {
		if got, ok := DateTime(c.in, c.zone); !ok || got != c.want {
			t.Errorf("DateTime(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
	for _, in := range []string{"2024030725", "202403071060", "20240307101530.+0000", "20240307101530.12345", "202403071015+2400", "2024030710-05", "x"} {
		if got, ok := DateTime(in, time.UTC); ok {
			t.Errorf("DateTime(%q) = %q, accepted", in, got)
		}
	}
}

func TestQuantity(t *testing.T) {
	q, ok := Quantity("120", "mmHg")
	if !ok || *q.Value != 120 || q.Unit != "mmHg" || q.System != unified.SystemUCUM || q.Code != "mm[Hg]" {
		t.Fatalf("mmHg: %+v", q)
	}
	q, ok = Quantity("<5", "furlongs")
	if !ok || *q.Value != 5 || q.Comparator != "<" || q.System != "" || q.Code != "" || q.Unit != "furlongs" {
		t.Fatalf("comparator, unknown unit: %+v", q)
	}
	q, ok = Quantity(" >= -1.50 ", "MG/DL")
	if !ok || *q.Value != -1.5 || q.Comparator != ">=" || q.Code != "mg/dL" {
		t.Fatalf("case-insensitive unit: %+v", q)
	}
	if q, ok = Quantity("", "kg"); !ok || q.Value != nil || q.Code != "kg" {
		t.Fatalf("unit alone: %+v", q)
	}
	for _, v := range []string{"1e5", "0x10", "NaN", "Inf", "1.2.3", "--1", ".", "<", "12 mg"} {
		if q, ok := Quantity(v, "mg"); ok {
			t.Errorf("Quantity(%q) = %+v, accepted", v, q)
		}
	}
	if _, ok := Quantity("", ""); ok {
		t.Error("empty quantity accepted")
	}
}

// TestUCUMCodesAreTheirOwnAlias: a source that already writes the UCUM
// code (in any case) gets it back.
func TestUCUMCodesAreTheirOwnAlias(t *testing.T) {
	for code := range ucumAliases {
		if got, ok := UCUM(code); !ok || got != code {
			t.Errorf("UCUM(%q) = %q, %v", code, got, ok)
		}
	}
}

func FuzzDateTime(f *testing.F) {
	for _, s := range []string{"2024", "20240307101530.25+0530", "2024-03-07T10:15:00-05:00", "1970-04", "2023022", "99999999999999.9999-9999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := Date(s); ok && !unified.ValidDate(d) {
			t.Fatalf("Date(%q) = %q, not a unified date", s, d)
		}
		for _, z := range []*time.Location{nil, time.UTC} {
			if d, ok := DateTime(s, z); ok && !unified.ValidDate(d) {
				t.Fatalf("DateTime(%q) = %q, not a unified date or date-time", s, d)
			}
		}
	})
}

func FuzzQuantity(f *testing.F) {
	for _, s := range []string{"72", "<5", ">=-1.5", "1e5", ""} {
		f.Add(s, "mmHg")
	}
	f.Fuzz(func(t *testing.T, v, u string) {
		if q, ok := Quantity(v, u); ok && q.Value == nil && q.Unit == "" {
			t.Fatalf("empty quantity from %q %q", v, u)
		}
	})
}
