package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirPractitioner, unified.Practitioner]("Practitioner")
	register(&resourceMap{
		resource: unified.Practitioners,
		fhirType: "Practitioner",
		params: []searchParam{
			{name: "name", fhir: "name", kind: paramString},
			{name: "identifier", fhir: "identifier", kind: paramToken},
			updatedParam(),
		},
		record: c.record,
		page:   c.page,
	})
}

// fhirPractitioner holds only the fields of an R4 Practitioner that the
// mapping uses.
type fhirPractitioner struct {
	resourceHead
	Identifier    []fhirIdentifier   `json:"identifier"`
	Active        *bool              `json:"active"`
	Name          []fhirHumanName    `json:"name"`
	Telecom       []fhirContactPoint `json:"telecom"`
	Address       []fhirAddress      `json:"address"`
	Gender        string             `json:"gender"`
	Qualification []struct {
		Code fhirCodeableConcept `json:"code"`
	} `json:"qualification"`
}

func (p *fhirPractitioner) reset() {
	*p = fhirPractitioner{
		Identifier:    reuse(p.Identifier),
		Name:          reuse(p.Name),
		Telecom:       clearList(p.Telecom),
		Address:       reuse(p.Address),
		Qualification: clearList(p.Qualification),
	}
}

// unified maps the Practitioner. Of a qualification only its code is kept:
// its identifier, period and issuer say who granted it and when, which the
// unified model leaves to raw.
func (p *fhirPractitioner) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Practitioner {
	u := unified.Practitioner{
		ID:          p.ID,
		Identifiers: m.npiIdentifiers(p.Identifier),
		Active:      p.Active,
		Names:       m.humanNames(p.Name),
		Telecom:     m.contactPointList(p.Telecom),
		Addresses:   m.addressList(p.Address),
		Gender:      p.Gender,
		UpdatedAt:   p.updated(),
		Source:      src,
		Raw:         raw,
	}
	for i := range p.Qualification {
		if c := m.concept(&p.Qualification[i].Code); c != nil {
			u.Qualifications = append(u.Qualifications, *c)
		}
	}
	return u
}

// npiIdentifiers maps identifiers and writes an NPI under
// unified.SystemNPI whichever of its aliases (the OID) the source used, so
// a client finds a provider's NPI in one place. Organizations carry NPIs
// too and use it as well.
func (m *mapper) npiIdentifiers(ids []fhirIdentifier) []unified.Identifier {
	out := m.identifierList(ids)
	for i := range out {
		if unified.CanonicalSystem(out[i].System) == unified.SystemNPI {
			out[i].System = unified.SystemNPI
		}
	}
	return out
}
