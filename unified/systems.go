package unified

import "strings"

// Code system URIs Ferry recognises. Codings keep whatever system the source
// sent; these are the canonical URIs FHIR R4 and US Core use, which Ferry
// writes in place of the known aliases (an OID, an older URL).
const (
	SystemLOINC   = "http://loinc.org"
	SystemSNOMED  = "http://snomed.info/sct"
	SystemRxNorm  = "http://www.nlm.nih.gov/research/umls/rxnorm"
	SystemICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	SystemCVX     = "http://hl7.org/fhir/sid/cvx"
	SystemNDC     = "http://hl7.org/fhir/sid/ndc"
	SystemUCUM    = "http://unitsofmeasure.org"
	SystemNPI     = "http://hl7.org/fhir/sid/us-npi"
)

// knownSystem is a recognised code system: its canonical URI, the short
// name a client may use for it in a `code` filter, and its aliases.
type knownSystem struct {
	uri, name string
	aliases   []string
}

var knownSystems = []knownSystem{
	{SystemLOINC, "loinc", []string{"urn:oid:2.16.840.1.113883.6.1", "https://loinc.org"}},
	{SystemSNOMED, "snomed", []string{"urn:oid:2.16.840.1.113883.6.96", "http://snomed.info/sct/"}},
	{SystemRxNorm, "rxnorm", []string{"urn:oid:2.16.840.1.113883.6.88"}},
	{SystemICD10CM, "icd10cm", []string{"urn:oid:2.16.840.1.113883.6.90", "http://hl7.org/fhir/sid/icd-10-us"}},
	{SystemCVX, "cvx", []string{"urn:oid:2.16.840.1.113883.12.292"}},
	{SystemNDC, "ndc", []string{"urn:oid:2.16.840.1.113883.6.69"}},
	{SystemUCUM, "ucum", []string{"urn:oid:2.16.840.1.113883.6.8"}},
	{SystemNPI, "npi", []string{"urn:oid:2.16.840.1.113883.4.6"}},
}

var (
	systemByAlias = map[string]*knownSystem{}
	systemByName  = map[string]*knownSystem{}
)

func init() {
	for i := range knownSystems {
		k := &knownSystems[i]
		systemByAlias[k.uri] = k
		for _, a := range k.aliases {
			systemByAlias[a] = k
		}
		systemByName[k.name] = k
	}
}

// CanonicalSystem returns the canonical URI of a recognised code system
// given by its URI or one of its aliases, and s unchanged otherwise.
func CanonicalSystem(s string) string {
	if k := systemByAlias[s]; k != nil {
		return k.uri
	}
	return s
}

// SystemName returns the short name ("loinc", "snomed", "rxnorm",
// "icd10cm", "cvx", "ndc", "ucum", "npi") of a recognised system, or "".
func SystemName(uri string) string {
	if k := systemByAlias[uri]; k != nil {
		return k.name
	}
	return ""
}

// SystemByName returns the canonical URI for a short name, as a client may
// write it in a `code` filter ("loinc|8867-4").
func SystemByName(name string) (string, bool) {
	if k := systemByName[strings.ToLower(name)]; k != nil {
		return k.uri, true
	}
	return "", false
}

// NewCoding returns a coding with the system made canonical and, for a
// recognised system, its short name set.
func NewCoding(system, code, display string) Coding {
	system = CanonicalSystem(system)
	return Coding{System: system, SystemName: SystemName(system), Code: code, Display: display}
}
