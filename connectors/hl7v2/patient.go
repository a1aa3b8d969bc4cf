package hl7v2

import (
	"encoding/json"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// SystemV2IdentifierType is the code system of PID-3.5, HL7 table 0203, as
// FHIR names it.
const SystemV2IdentifierType = "http://terminology.hl7.org/CodeSystem/v2-0203"

// PatientMapping says how PID segments become unified patients.
type PatientMapping struct {
	// IDAuthority is the assigning authority of the identifiers that are
	// the patients' ids on the connection: the PID-3 repetition it
	// assigned is the record's id and source id. When zero, the first
	// PID-3 identifier is.
	IDAuthority HD
	// Systems maps an assigning authority's namespace id (PID-3.4.1) to the
	// URI of its identifier system. See Mapping.System.
	Systems map[string]string
}

// System returns the identifier system URI of an assigning authority:
//   - an ISO universal id (an OID) is urn:oid:<OID>, a UUID urn:uuid:<UUID>,
//     and a URI is itself;
//   - otherwise the namespace id's entry in Systems, or the namespace id
//     itself when Systems has none: a local name, but the only one the
//     source gave.
//
// Recognised systems (NPI …) are written in their canonical form.
func (pm *PatientMapping) System(a HD) string {
	var s string
	switch {
	case a.UniversalID != "" && strings.EqualFold(a.UniversalIDType, "ISO"):
		s = "urn:oid:" + a.UniversalID
	case a.UniversalID != "" && strings.EqualFold(a.UniversalIDType, "UUID"):
		s = "urn:uuid:" + strings.ToLower(a.UniversalID)
	case a.UniversalID != "" && strings.EqualFold(a.UniversalIDType, "URI"):
		s = a.UniversalID
	case a.Namespace != "":
		if uri, ok := pm.Systems[a.Namespace]; ok {
			s = uri
		} else {
			s = a.Namespace
		}
	}
	return unified.CanonicalSystem(s)
}

// Authority is the inverse of System: the assigning authority to put in a
// query for an identifier system a client names. An urn:oid: system is an
// ISO universal id; a system that Systems maps a namespace to is that
// namespace; any other is taken as a namespace id.
func (pm *PatientMapping) Authority(system string) HD {
	if oid, ok := strings.CutPrefix(system, "urn:oid:"); ok {
		return HD{UniversalID: oid, UniversalIDType: "ISO"}
	}
	for ns, uri := range pm.Systems {
		if uri == system {
			return HD{Namespace: ns}
		}
	}
	return HD{Namespace: system}
}

// Patient maps one PID segment of an answer (see the package documentation
// for the field mapping). raw includes the segment, as received, as a JSON
// string under Raw. Values that cannot be mapped (a malformed date, a code
// outside its table) are left out rather than failing the record.
func (pm *PatientMapping) Patient(pid *Segment, src unified.Source, raw bool) unified.Patient {
	p := unified.Patient{Source: src}
	var first, byAuthority string
	for _, r := range pid.Field(3) {
		id, a := nullable(r.Value(1)), readHD(r.Comp(4))
		if id == "" {
			continue
		}
		if first == "" {
			first = id
		}
		if byAuthority == "" && !pm.IDAuthority.IsZero() && pm.IDAuthority.Matches(a) {
			byAuthority = id
		}
		ident := unified.Identifier{System: pm.System(a), Value: id}
		if t := nullable(r.Value(5)); t != "" {
			ident.Type = &unified.Coding{System: SystemV2IdentifierType, Code: t}
		}
		p.Identifiers = append(p.Identifiers, ident)
	}
	id := first
	if !pm.IDAuthority.IsZero() {
		id = byAuthority
	}
	// The source id is the identifier as the source wrote it; the record
	// id only when it is one Ferry accepts in paths (MRNs with other
	// characters cannot be read by id, only found by search).
	p.Source.SourceID = id
	if unified.ValidID(id) {
		p.ID = id
	}
	p.Names = names(pid.Field(5))
	if t, ok := parseDTM(pid.Get(7, 1, 1, 1)); ok {
		p.BirthDate = t.date()
	}
	p.Gender = genders[pid.Value(8)]
	p.Addresses = addresses(pid.Field(11))
	p.Telecom = append(telecoms(pid.Field(13), "home"), telecoms(pid.Field(14), "work")...)
	if t, ok := parseDTM(pid.Get(29, 1, 1, 1)); ok {
		p.Deceased = &unified.Deceased{Deceased: true, At: t.dateTime()}
	} else {
		switch pid.Value(30) {
		case "Y":
			p.Deceased = &unified.Deceased{Deceased: true}
		case "N":
			p.Deceased = &unified.Deceased{Deceased: false}
		}
	}
	if t, ok := parseDTM(pid.Get(33, 1, 1, 1)); ok {
		p.UpdatedAt = t.dateTime()
	}
	if raw {
		text := pid.Raw()
		if text == "" {
			text, _ = pid.Encode(DefaultDelimiters)
		}
		p.Raw, _ = json.Marshal(text)
	}
	return p
}

// genders maps HL7 table 0001 (administrative sex) to the unified gender,
// as FHIR's v2 mapping does.
var genders = map[string]string{
	"M": "male", "F": "female", "O": "other", "A": "other", "N": "other", "U": "unknown",
}

// nameUses maps HL7 table 0200 (name type) to the unified name use.
var nameUses = map[string]string{
	"L": "official", "C": "official", "R": "official", "D": "usual", "A": "usual",
	"M": "maiden", "N": "nickname", "S": "anonymous", "TEMP": "temp", "NB": "temp",
	"BAD": "old",
}

// names maps XPN repetitions: 1 family name (its first subcomponent, the
// surname), 2 given name, 3 further given names, 4 suffix, 5 prefix,
// 6 degree (a suffix), 7 name type.
func names(f Field) []unified.HumanName {
	var out []unified.HumanName
	for _, r := range f {
		n := unified.HumanName{
			Family: nullable(r.Comp(1).Sub(1)),
			Use:    nameUses[r.Value(7)],
		}
		n.Given = appendNonEmpty(n.Given, r.Value(2), r.Value(3))
		n.Suffix = appendNonEmpty(n.Suffix, r.Value(4), r.Value(6))
		n.Prefix = appendNonEmpty(n.Prefix, r.Value(5))
		if n.Family == "" && n.Given == nil && n.Prefix == nil && n.Suffix == nil {
			continue
		}
		out = append(out, n)
	}
	return out
}

// addressUses maps HL7 table 0190 (address type) to the unified use.
var addressUses = map[string]string{
	"H": "home", "P": "home", "B": "work", "O": "work", "C": "temp", "BA": "old",
}

// addresses maps XAD repetitions: 1 street (its first subcomponent), 2 other
// designation, 3 city, 4 state, 5 postal code, 6 country, 7 type,
// 9 county.
func addresses(f Field) []unified.Address {
	var out []unified.Address
	for _, r := range f {
		a := unified.Address{
			Lines:      appendNonEmpty(nil, r.Comp(1).Sub(1), r.Value(2)),
			City:       nullable(r.Value(3)),
			State:      nullable(r.Value(4)),
			PostalCode: nullable(r.Value(5)),
			Country:    nullable(r.Value(6)),
			District:   nullable(r.Value(9)),
		}
		if a.Lines == nil && a.City == "" && a.State == "" && a.PostalCode == "" && a.Country == "" && a.District == "" {
			continue
		}
		a.Use = addressUses[r.Value(7)]
		out = append(out, a)
	}
	return out
}

// telecomUses maps HL7 table 0201 (telecommunication use).
var telecomUses = map[string]string{
	"PRN": "home", "ORN": "home", "WPN": "work", "VHN": "temp",
}

// telecomSystems maps HL7 table 0202 (telecommunication equipment type).
var telecomSystems = map[string]string{
	"PH": "phone", "CP": "phone", "FX": "fax", "BP": "pager", "Internet": "email", "X.400": "email",
	"MD": "other", "TDD": "other", "TTY": "other",
}

// telecoms maps XTN repetitions of PID-13 (home) or PID-14 (business):
// 1 the number as formatted by the source, 2 use, 3 equipment type, 4 email
// address, 5 country code, 6 area code, 7 local number, 8 extension, 12 the
// unformatted number. A number is XTN-1 when given, then XTN-12, then
// assembled from its parts ("+1 (217) 5551234 ext. 12").
func telecoms(f Field, defaultUse string) []unified.ContactPoint {
	var out []unified.ContactPoint
	for _, r := range f {
		use, equip := r.Value(2), r.Value(3)
		c := unified.ContactPoint{System: telecomSystems[equip], Use: telecomUses[use]}
		if use == "NET" || equip == "Internet" || equip == "X.400" {
			c.System = "email"
			c.Value = nullable(r.Value(4))
		} else {
			if use == "BPN" && c.System == "" {
				c.System = "pager"
			}
			c.Value = phone(r)
		}
		if c.Value == "" {
			continue
		}
		if c.System == "" {
			c.System = "phone"
		}
		if equip == "CP" {
			c.Use = "mobile"
		}
		if c.Use == "" && use == "" {
			c.Use = defaultUse
		}
		out = append(out, c)
	}
	return out
}

func phone(r Repetition) string {
	if v := nullable(r.Value(1)); v != "" {
		return v
	}
	if v := nullable(r.Value(12)); v != "" {
		return v
	}
	local := nullable(r.Value(7))
	if local == "" {
		return ""
	}
	var b strings.Builder
	if cc := nullable(r.Value(5)); cc != "" {
		b.WriteString("+" + strings.TrimPrefix(cc, "+") + " ")
	}
	if area := nullable(r.Value(6)); area != "" {
		b.WriteString("(" + area + ") ")
	}
	b.WriteString(local)
	if ext := nullable(r.Value(8)); ext != "" {
		b.WriteString(" ext. " + ext)
	}
	return b.String()
}

func appendNonEmpty(dst []string, vs ...string) []string {
	for _, v := range vs {
		if v = nullable(v); v != "" {
			dst = append(dst, v)
		}
	}
	return dst
}
