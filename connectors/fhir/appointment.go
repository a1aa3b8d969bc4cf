package fhir

import (
	"encoding/json"
	"slices"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirAppointment, unified.Appointment]("Appointment")
	register(&resourceMap{
		resource: unified.Appointments,
		fhirType: "Appointment",
		params: slices.Concat(
			[]searchParam{patientParam("patient", true)},
			dateParams("date"),
			[]searchParam{
				tokenParam(unified.FilterStatus, "status"),
				updatedParam(),
			},
		),
		record: c.record,
		page:   c.page,
	})
}

// fhirAppointment holds only the fields of an R4 Appointment that the
// mapping uses.
type fhirAppointment struct {
	resourceHead
	Identifier        []fhirIdentifier      `json:"identifier"`
	Status            string                `json:"status"`
	CancelationReason fhirCodeableConcept   `json:"cancelationReason"`
	ServiceCategory   []fhirCodeableConcept `json:"serviceCategory"`
	ServiceType       []fhirCodeableConcept `json:"serviceType"`
	Specialty         []fhirCodeableConcept `json:"specialty"`
	AppointmentType   fhirCodeableConcept   `json:"appointmentType"`
	ReasonCode        []fhirCodeableConcept `json:"reasonCode"`
	Priority          *int                  `json:"priority"`
	Description       string                `json:"description"`
	Start             string                `json:"start"`
	End               string                `json:"end"`
	MinutesDuration   *int                  `json:"minutesDuration"`
	Created           string                `json:"created"`
	Participant       []struct {
		Type     []fhirCodeableConcept `json:"type"`
		Actor    fhirReference         `json:"actor"`
		Required string                `json:"required"`
		Status   string                `json:"status"`
	} `json:"participant"`
}

func (a *fhirAppointment) reset() {
	*a = fhirAppointment{
		Identifier:        reuse(a.Identifier),
		CancelationReason: emptied(&a.CancelationReason),
		ServiceCategory:   reuse(a.ServiceCategory),
		ServiceType:       reuse(a.ServiceType),
		Specialty:         reuse(a.Specialty),
		AppointmentType:   emptied(&a.AppointmentType),
		ReasonCode:        reuse(a.ReasonCode),
		Participant:       clearList(a.Participant),
	}
}

// unified maps the Appointment. The patient's participant stays among the
// participants as well, because its status (accepted, declined) and
// whether it is required belong to it, not to the patient reference.
func (a *fhirAppointment) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Appointment {
	u := unified.Appointment{
		ID:                a.ID,
		Identifiers:       m.identifierList(a.Identifier),
		Status:            a.Status,
		CancelationReason: m.concept(&a.CancelationReason),
		ServiceCategories: m.conceptList(a.ServiceCategory),
		ServiceTypes:      m.conceptList(a.ServiceType),
		Specialties:       m.conceptList(a.Specialty),
		AppointmentType:   m.concept(&a.AppointmentType),
		ReasonCodes:       m.conceptList(a.ReasonCode),
		Priority:          a.Priority,
		Description:       a.Description,
		Start:             a.Start,
		End:               a.End,
		MinutesDuration:   a.MinutesDuration,
		CreatedAt:         a.Created,
		UpdatedAt:         a.updated(),
		Source:            src,
		Raw:               raw,
	}
	for i := range a.Participant {
		p := &a.Participant[i]
		up := unified.AppointmentParticipant{
			Actor:    m.reference(&p.Actor),
			Types:    m.conceptList(p.Type),
			Required: p.Required,
			Status:   p.Status,
		}
		if up.Actor == nil && up.Types == nil && up.Required == "" && up.Status == "" {
			continue
		}
		// The first participant that is a Patient is the patient; a
		// display-only actor cannot be told apart from a phone call.
		if u.Patient == nil && up.Actor != nil && up.Actor.Resource == unified.Patients {
			u.Patient = m.references.one(*up.Actor)
		}
		u.Participants = append(u.Participants, up)
	}
	return u
}
