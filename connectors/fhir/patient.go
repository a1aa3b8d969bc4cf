package fhir

import (
	"encoding/json"
	"errors"

	gojson "github.com/goccy/go-json"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// fhirPatient holds only the fields of an R4 Patient that the mapping uses.
// Decoding into it skips everything else (text, extensions, contacts) without
// building it, which is most of the cost of a Patient, and unknown or future
// fields are ignored by construction.
type fhirPatient struct {
	ResourceType     string             `json:"resourceType"`
	ID               string             `json:"id"`
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

type fhirIdentifier struct {
	Use  string `json:"use"`
	Type *struct {
		Coding []fhirCoding `json:"coding"`
	} `json:"type"`
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirCoding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type fhirHumanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix"`
	Suffix []string `json:"suffix"`
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

// patientRecord maps one Patient resource, as the source sent it, to the
// unified JSON record. src is the provenance of the request; its SourceID is
// the id asked for on a read and empty on a search, and is set from the
// resource's id here. With raw, the untouched resource is kept under `raw`.
//
// A resource that is not a Patient is errNotPatient when inBundle (a
// searchset may carry other resources, which are skipped) and an upstream
// error otherwise.
func patientRecord(body []byte, src unified.Source, raw, inBundle bool) (json.RawMessage, error) {
	var p fhirPatient
	if err := gojson.Unmarshal(body, &p); err != nil {
		// A resource of another type may not fit the Patient fields (a
		// Location's address is an object, not a list); only a Patient that
		// does not fit is the source's fault.
		if inBundle && !isPatient(body) {
			return nil, errNotPatient
		}
		return nil, errNotFHIR
	}
	if p.ResourceType != "Patient" {
		if inBundle {
			return nil, errNotPatient
		}
		return nil, connectors.Errorf(connectors.CodeUpstream, "fhir: source answered a resource that is not a Patient")
	}
	if !raw {
		body = nil
	}
	return p.record(src, body)
}

// record encodes the mapped Patient, with raw (the untouched resource) if
// not nil. On a read, src.SourceID names the id that was asked for.
func (p *fhirPatient) record(src unified.Source, raw []byte) (json.RawMessage, error) {
	// Answering another patient's record under the id asked for would be
	// the worst mistake a gateway can make, so a mismatch fails; a missing
	// id (invalid FHIR) is the asked one.
	if want := src.SourceID; want != "" && p.ID != want {
		if p.ID != "" {
			return nil, connectors.Errorf(connectors.CodeUpstream, "fhir: source answered another Patient than the one asked for")
		}
		p.ID = want
	}
	u := p.unified(src)
	u.Raw = raw
	rec, err := gojson.Marshal(&u)
	if err != nil {
		// Only Raw can fail to encode, when the decoder accepted bytes that
		// are not strictly JSON; the source is at fault.
		return nil, errNotFHIR
	}
	return rec, nil
}

// patientPage maps the Patients of a searchset Bundle, skipping entries
// that are not matches or not Patients.
//
// Without raw, the page is decoded in one pass, each resource straight into
// the mapping's struct. That fails when an entry of another type does not fit
// the Patient fields (a Location's address is an object, not a list); then,
// and with raw, each resource is kept as its bytes and decoded on its own.
func patientPage(body []byte, src unified.Source, raw bool) ([]json.RawMessage, pageInfo, error) {
	if !raw {
		if b, err := decodeSearchset[fhirPatient](body); err == nil {
			records := make([]json.RawMessage, 0, len(b.Entry))
			for i := range b.Entry {
				e := &b.Entry[i]
				if !e.match() || e.Resource.ResourceType != "Patient" {
					continue
				}
				rec, err := e.Resource.record(src, nil)
				if err != nil {
					return nil, pageInfo{}, err
				}
				records = append(records, rec)
			}
			return records, b.page(len(records)), nil
		}
	}
	b, err := decodeSearchset[json.RawMessage](body)
	if err != nil {
		return nil, pageInfo{}, err
	}
	records := make([]json.RawMessage, 0, len(b.Entry))
	for i := range b.Entry {
		e := &b.Entry[i]
		if !e.match() {
			continue
		}
		rec, err := patientRecord(e.Resource, src, raw, true)
		if errors.Is(err, errNotPatient) {
			continue
		}
		if err != nil {
			return nil, pageInfo{}, err
		}
		records = append(records, rec)
	}
	return records, b.page(len(records)), nil
}

// isPatient reports whether a resource that failed to decode as a Patient
// says it is one.
func isPatient(body []byte) bool {
	var r struct {
		ResourceType string `json:"resourceType"`
	}
	return gojson.Unmarshal(body, &r) == nil && r.ResourceType == "Patient"
}

// unified maps the Patient. Elements with nothing the unified model can hold
// (an identifier or telecom without a value, an empty name or address) are
// dropped: FHIR allows them to carry only extensions, which are not mapped.
func (p *fhirPatient) unified(src unified.Source) unified.Patient {
	src.SourceID = p.ID
	u := unified.Patient{
		ID:        p.ID,
		BirthDate: p.BirthDate,
		Gender:    p.Gender,
		Active:    p.Active,
		Source:    src,
	}
	for i := range p.Identifier {
		id := &p.Identifier[i]
		if id.Value == "" {
			continue
		}
		out := unified.Identifier{System: id.System, Value: id.Value, Use: id.Use}
		if id.Type != nil && len(id.Type.Coding) > 0 {
			if c := id.Type.Coding[0]; c != (fhirCoding{}) {
				out.Type = &unified.Coding{System: c.System, Code: c.Code, Display: c.Display}
			}
		}
		if u.Identifiers == nil {
			u.Identifiers = make([]unified.Identifier, 0, len(p.Identifier))
		}
		u.Identifiers = append(u.Identifiers, out)
	}
	for i := range p.Name {
		n := &p.Name[i]
		if n.Use == "" && n.Text == "" && n.Family == "" && len(n.Given) == 0 && len(n.Prefix) == 0 && len(n.Suffix) == 0 {
			continue
		}
		if u.Names == nil {
			u.Names = make([]unified.HumanName, 0, len(p.Name))
		}
		u.Names = append(u.Names, unified.HumanName{
			Use: n.Use, Family: n.Family, Given: n.Given, Prefix: n.Prefix, Suffix: n.Suffix, Text: n.Text,
		})
	}
	for i := range p.Telecom {
		t := &p.Telecom[i]
		if t.Value == "" {
			continue
		}
		if u.Telecom == nil {
			u.Telecom = make([]unified.ContactPoint, 0, len(p.Telecom))
		}
		u.Telecom = append(u.Telecom, unified.ContactPoint{System: t.System, Value: t.Value, Use: t.Use})
	}
	for i := range p.Address {
		a := &p.Address[i]
		out := unified.Address{
			Use: a.Use, Lines: a.Line, City: a.City, District: a.District,
			State: a.State, PostalCode: a.PostalCode, Country: a.Country,
		}
		if out.Use == "" && len(out.Lines) == 0 && out.City == "" && out.District == "" &&
			out.State == "" && out.PostalCode == "" && out.Country == "" {
			continue
		}
		if u.Addresses == nil {
			u.Addresses = make([]unified.Address, 0, len(p.Address))
		}
		u.Addresses = append(u.Addresses, out)
	}
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
