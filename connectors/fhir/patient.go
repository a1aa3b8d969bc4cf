package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirPatient, unified.Patient]("Patient")
	register(&resourceMap{
		resource: unified.Patients,
		fhirType: "Patient",
		params: []searchParam{
			{name: "name", fhir: "name", kind: paramString},
			{name: "birth_date", fhir: "birthdate", kind: paramDate},
			{name: "identifier", fhir: "identifier", kind: paramToken},
			updatedParam(),
		},
		record: c.record,
		page:   c.page,
	})
}

// fhirPatient holds only the fields of an R4 Patient that the mapping uses.
type fhirPatient struct {
	resourceHead
	Identifier       []fhirIdentifier   `json:"identifier"`
	Active           *bool              `json:"active"`
	Name             []fhirHumanName    `json:"name"`
	Telecom          []fhirContactPoint `json:"telecom"`
	Gender           string             `json:"gender"`
	BirthDate        string             `json:"birthDate"`
	DeceasedBoolean  *bool              `json:"deceasedBoolean"`
	DeceasedDateTime string             `json:"deceasedDateTime"`
	Address          []fhirAddress      `json:"address"`
}

func (p *fhirPatient) reset() {
	*p = fhirPatient{
		Identifier: reuse(p.Identifier),
		Name:       reuse(p.Name),
		Telecom:    clearList(p.Telecom),
		Address:    reuse(p.Address),
	}
}

type fhirHumanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix"`
	Suffix []string `json:"suffix"`
}

func (n *fhirHumanName) reset() {
	*n = fhirHumanName{Given: clearList(n.Given), Prefix: clearList(n.Prefix), Suffix: clearList(n.Suffix)}
}

type fhirContactPoint struct {
	System string `json:"system"`
	Value  string `json:"value"`
	Use    string `json:"use"`
}

type fhirAddress struct {
	Use        string   `json:"use"`
	Line       []string `json:"line"`
	City       string   `json:"city"`
	District   string   `json:"district"`
	State      string   `json:"state"`
	PostalCode string   `json:"postalCode"`
	Country    string   `json:"country"`
}

func (a *fhirAddress) reset() {
	*a = fhirAddress{Line: clearList(a.Line)}
}

// unified maps the Patient. Elements with nothing the unified model can hold
// (an identifier or telecom without a value, an empty name or address) are
// dropped: FHIR allows them to carry only extensions, which are not mapped.
func (p *fhirPatient) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Patient {
	u := unified.Patient{
		ID:          p.ID,
		Identifiers: m.identifierList(p.Identifier),
		BirthDate:   p.BirthDate,
		Gender:      p.Gender,
		Active:      p.Active,
		UpdatedAt:   p.updated(),
		Source:      src,
		Raw:         raw,
	}
	u.Names = m.humanNames(p.Name)
	u.Telecom = m.contactPointList(p.Telecom)
	u.Addresses = m.addressList(p.Address)
	// deceased[x] is a choice: a date-time implies death; a boolean says
	// yes or no without a date. A source that sends both (invalid FHIR) is
	// read by the more precise one.
	switch {
	case p.DeceasedDateTime != "":
		u.Deceased = &unified.Deceased{Deceased: true, At: p.DeceasedDateTime}
	case p.DeceasedBoolean != nil:
		u.Deceased = &unified.Deceased{Deceased: *p.DeceasedBoolean}
	}
	return u
}

// addressOf maps a postal address; ok is false when it holds nothing the
// unified model can express.
func addressOf(a *fhirAddress) (unified.Address, bool) {
	out := unified.Address{
		Use: a.Use, Lines: a.Line, City: a.City, District: a.District,
		State: a.State, PostalCode: a.PostalCode, Country: a.Country,
	}
	return out, out.Use != "" || len(out.Lines) > 0 || out.City != "" || out.District != "" ||
		out.State != "" || out.PostalCode != "" || out.Country != ""
}

func (m *mapper) address(a *fhirAddress) *unified.Address {
	if u, ok := addressOf(a); ok {
		return m.addresses.one(u)
	}
	return nil
}

func (m *mapper) addressList(as []fhirAddress) []unified.Address {
	var out []unified.Address
	for i := range as {
		if a, ok := addressOf(&as[i]); ok {
			if out == nil {
				out = m.addresses.list(len(as))
			}
			out = append(out, a)
		}
	}
	return out
}

// humanNames maps names, dropping empty ones.
func (m *mapper) humanNames(ns []fhirHumanName) []unified.HumanName {
	var out []unified.HumanName
	for i := range ns {
		n := &ns[i]
		if n.Use == "" && n.Text == "" && n.Family == "" && len(n.Given) == 0 && len(n.Prefix) == 0 && len(n.Suffix) == 0 {
			continue
		}
		if out == nil {
			out = m.names.list(len(ns))
		}
		out = append(out, unified.HumanName{
			Use: n.Use, Family: n.Family, Given: n.Given, Prefix: n.Prefix, Suffix: n.Suffix, Text: n.Text,
		})
	}
	return out
}

// contactPointList maps telecom entries, dropping those without a value.
func (m *mapper) contactPointList(ts []fhirContactPoint) []unified.ContactPoint {
	var out []unified.ContactPoint
	for i := range ts {
		t := &ts[i]
		if t.Value == "" {
			continue
		}
		if out == nil {
			out = m.contactPoints.list(len(ts))
		}
		out = append(out, unified.ContactPoint{System: t.System, Value: t.Value, Use: t.Use})
	}
	return out
}
