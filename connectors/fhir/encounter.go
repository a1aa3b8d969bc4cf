package fhir

import (
	"encoding/json"
	"slices"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirEncounter, unified.Encounter]("Encounter")
	register(&resourceMap{
		resource: unified.Encounters,
		fhirType: "Encounter",
		params: slices.Concat(
			[]searchParam{patientParam("patient", true)},
			dateParams("date"),
			[]searchParam{
				tokenParam(unified.FilterStatus, "status"),
				// The unified category is the setting (ambulatory, inpatient…),
				// which R4 holds in class, a single Coding.
				tokenParam(unified.FilterCategory, "class"),
				tokenParam(unified.FilterCode, "type"),
				updatedParam(),
			},
		),
		record: c.record,
		page:   c.page,
	})
}

// fhirEncounter holds only the fields of an R4 Encounter that the mapping
// uses.
type fhirEncounter struct {
	resourceHead
	Identifier  []fhirIdentifier      `json:"identifier"`
	Status      string                `json:"status"`
	Class       fhirCoding            `json:"class"`
	Type        []fhirCodeableConcept `json:"type"`
	ServiceType fhirCodeableConcept   `json:"serviceType"`
	Priority    fhirCodeableConcept   `json:"priority"`
	Subject     fhirReference         `json:"subject"`
	Participant []struct {
		Type       []fhirCodeableConcept `json:"type"`
		Period     fhirPeriod            `json:"period"`
		Individual fhirReference         `json:"individual"`
	} `json:"participant"`
	Period          fhirPeriod            `json:"period"`
	ReasonCode      []fhirCodeableConcept `json:"reasonCode"`
	Hospitalization struct {
		AdmitSource          fhirCodeableConcept `json:"admitSource"`
		DischargeDisposition fhirCodeableConcept `json:"dischargeDisposition"`
	} `json:"hospitalization"`
	Location []struct {
		Location fhirReference `json:"location"`
	} `json:"location"`
	ServiceProvider fhirReference `json:"serviceProvider"`
}

func (e *fhirEncounter) reset() {
	*e = fhirEncounter{
		Identifier:  reuse(e.Identifier),
		Type:        reuse(e.Type),
		ServiceType: emptied(&e.ServiceType),
		Priority:    emptied(&e.Priority),
		Participant: clearList(e.Participant),
		ReasonCode:  reuse(e.ReasonCode),
		Location:    clearList(e.Location),
	}
}

// unified maps the Encounter. A subject that is not a Patient (a Group) is
// not mapped as the patient.
func (e *fhirEncounter) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Encounter {
	u := unified.Encounter{
		ID:              e.ID,
		Identifiers:     m.identifierList(e.Identifier),
		Status:          e.Status,
		Class:           m.coding(&e.Class),
		Types:           m.conceptList(e.Type),
		ServiceType:     m.concept(&e.ServiceType),
		Priority:        m.concept(&e.Priority),
		Patient:         m.referenceTo(&e.Subject, unified.Patients),
		Period:          m.period(&e.Period),
		ReasonCodes:     m.conceptList(e.ReasonCode),
		ServiceProvider: m.referenceTo(&e.ServiceProvider, unified.Organizations),
		UpdatedAt:       e.updated(),
		Source:          src,
		Raw:             raw,
	}
	for i := range e.Participant {
		p := &e.Participant[i]
		up := unified.EncounterParticipant{
			Types:      m.conceptList(p.Type),
			Individual: m.reference(&p.Individual),
			Period:     m.period(&p.Period),
		}
		if up.Types == nil && up.Individual == nil && up.Period == nil {
			continue
		}
		u.Participants = append(u.Participants, up)
	}
	u.AdmitSource = m.concept(&e.Hospitalization.AdmitSource)
	u.DischargeDisposition = m.concept(&e.Hospitalization.DischargeDisposition)
	u.Locations = m.encounterLocations(e)
	return u
}

// encounterLocations lists the places the patient was during the
// encounter, each once, in the order first seen. FHIR lists one entry per
// stay, with its period and status; the unified model keeps only the
// places, so a patient who left a bed and came back would otherwise show
// the same bed several times.
func (m *mapper) encounterLocations(e *fhirEncounter) []unified.Reference {
	var out []unified.Reference
next:
	for i := range e.Location {
		r := m.referenceTo(&e.Location[i].Location, unified.Locations)
		if r == nil {
			continue
		}
		for _, seen := range out {
			if seen == *r {
				continue next
			}
		}
		out = append(out, *r)
	}
	return out
}
