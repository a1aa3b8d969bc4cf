package fhir

import (
	"encoding/json"
	"slices"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
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
		record: mapRecord[fhirEncounter, unified.Encounter]("Encounter"),
		page:   mapPage[fhirEncounter, unified.Encounter]("Encounter"),
	})
}

// fhirEncounter holds only the fields of an R4 Encounter that the mapping
// uses.
type fhirEncounter struct {
	resourceHead
	Identifier  []fhirIdentifier      `json:"identifier"`
	Status      string                `json:"status"`
	Class       *fhirCoding           `json:"class"`
	Type        []fhirCodeableConcept `json:"type"`
	ServiceType *fhirCodeableConcept  `json:"serviceType"`
	Priority    *fhirCodeableConcept  `json:"priority"`
	Subject     *fhirReference        `json:"subject"`
	Participant []struct {
		Type       []fhirCodeableConcept `json:"type"`
		Period     *fhirPeriod           `json:"period"`
		Individual *fhirReference        `json:"individual"`
	} `json:"participant"`
	Period          *fhirPeriod           `json:"period"`
	ReasonCode      []fhirCodeableConcept `json:"reasonCode"`
	Hospitalization *struct {
		AdmitSource          *fhirCodeableConcept `json:"admitSource"`
		DischargeDisposition *fhirCodeableConcept `json:"dischargeDisposition"`
	} `json:"hospitalization"`
	Location []struct {
		Location *fhirReference `json:"location"`
	} `json:"location"`
	ServiceProvider *fhirReference `json:"serviceProvider"`
}

// unified maps the Encounter. A subject that is not a Patient (a Group) is
// not mapped as the patient.
func (e *fhirEncounter) unified(src unified.Source, raw json.RawMessage) unified.Encounter {
	u := unified.Encounter{
		ID:              e.ID,
		Identifiers:     identifiers(e.Identifier),
		Status:          e.Status,
		Class:           coding(e.Class),
		Types:           concepts(e.Type),
		ServiceType:     concept(e.ServiceType),
		Priority:        concept(e.Priority),
		Patient:         referenceTo(e.Subject, unified.Patients),
		Period:          period(e.Period),
		ReasonCodes:     concepts(e.ReasonCode),
		ServiceProvider: referenceTo(e.ServiceProvider, unified.Organizations),
		UpdatedAt:       e.updated(),
		Source:          src,
		Raw:             raw,
	}
	for i := range e.Participant {
		p := &e.Participant[i]
		up := unified.EncounterParticipant{
			Types:      concepts(p.Type),
			Individual: reference(p.Individual),
			Period:     period(p.Period),
		}
		if up.Types == nil && up.Individual == nil && up.Period == nil {
			continue
		}
		u.Participants = append(u.Participants, up)
	}
	if h := e.Hospitalization; h != nil {
		u.AdmitSource = concept(h.AdmitSource)
		u.DischargeDisposition = concept(h.DischargeDisposition)
	}
	u.Locations = encounterLocations(e)
	return u
}

// encounterLocations lists the places the patient was during the
// encounter, each once, in the order first seen. FHIR lists one entry per
// stay, with its period and status; the unified model keeps only the
// places, so a patient who left a bed and came back would otherwise show
// the same bed several times.
func encounterLocations(e *fhirEncounter) []unified.Reference {
	var out []unified.Reference
next:
	for i := range e.Location {
		r := referenceTo(e.Location[i].Location, unified.Locations)
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
