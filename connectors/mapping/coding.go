package mapping

import (
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// Coding returns a coding with surrounding spaces trimmed, the system made
// canonical (a recognised alias or OID becomes its canonical URI) and, for a
// recognised system, its short name set. An HL7 v2 coding-system name
// ("LN", "SCT", "I10") is accepted as a system too. ok is false when code
// is empty: a coding without a code says nothing.
func Coding(system, code, display string) (unified.Coding, bool) {
	system, code, display = strings.TrimSpace(system), strings.TrimSpace(code), strings.TrimSpace(display)
	if code == "" {
		return unified.Coding{}, false
	}
	if uri, ok := HL7System(system); ok {
		system = uri
	}
	return unified.NewCoding(system, code, display), true
}

// Concept returns a codeable concept of the given codings (empty ones
// dropped) and text, or nil when there is neither a coding nor text.
func Concept(text string, codings ...unified.Coding) *unified.CodeableConcept {
	c := &unified.CodeableConcept{Text: strings.TrimSpace(text)}
	for _, cd := range codings {
		if cd.Code != "" {
			c.Codings = append(c.Codings, cd)
		}
	}
	if c.Text == "" && len(c.Codings) == 0 {
		return nil
	}
	return c
}

// hl7Systems maps the names of HL7 v2 table 0396 (coding systems) that
// Ferry recognises to their canonical URIs.
var hl7Systems = map[string]string{
	"LN":     unified.SystemLOINC,
	"SCT":    unified.SystemSNOMED,
	"SNM":    unified.SystemSNOMED,
	"SNOMED": unified.SystemSNOMED,
	"RXNORM": unified.SystemRxNorm,
	"I10":    unified.SystemICD10CM,
	"I10C":   unified.SystemICD10CM,
	"CVX":    unified.SystemCVX,
	"NDC":    unified.SystemNDC,
	"UCUM":   unified.SystemUCUM,
	"NPI":    unified.SystemNPI,
}

// HL7System returns the canonical URI of an HL7 v2 coding-system name (table
// 0396: "LN" for LOINC, "SCT" for SNOMED CT, "I10" for ICD-10-CM …),
// compared case-insensitively. ok is false for a name Ferry does not
// recognise; keep such a name as the coding's system.
func HL7System(name string) (string, bool) {
	uri, ok := hl7Systems[strings.ToUpper(strings.TrimSpace(name))]
	return uri, ok
}

// Gender maps an administrative gender to unified's male | female | other |
// unknown, from FHIR's codes, HL7 v2 table 0001 (M, F, O, U, A, N, X) or
// the words, compared case-insensitively. ok is false for a value it cannot
// place; leave the field out then rather than guessing.
func Gender(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "male", "m":
		return "male", true
	case "female", "f":
		return "female", true
	case "other", "o", "a", "x", "ambiguous", "non-binary", "nonbinary":
		return "other", true
	case "unknown", "u", "n", "not applicable":
		return "unknown", true
	}
	return "", false
}
