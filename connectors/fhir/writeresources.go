package fhir

import (
	"github.com/ferryhealth/ferry/unified"
)

// The writable resources, unified → FHIR R4. Each function writes every
// element its read mapping (appointment.go, document.go, observation.go)
// reads back, so that a record created through Ferry reads back equal.

type wAppointment struct {
	ResourceType      string                 `json:"resourceType"`
	Identifier        []wIdentifier          `json:"identifier,omitempty"`
	Status            string                 `json:"status,omitempty"`
	CancelationReason *wConcept              `json:"cancelationReason,omitempty"`
	ServiceCategory   []wConcept             `json:"serviceCategory,omitempty"`
	ServiceType       []wConcept             `json:"serviceType,omitempty"`
	Specialty         []wConcept             `json:"specialty,omitempty"`
	AppointmentType   *wConcept              `json:"appointmentType,omitempty"`
	ReasonCode        []wConcept             `json:"reasonCode,omitempty"`
	Priority          *int                   `json:"priority,omitempty"`
	Description       string                 `json:"description,omitempty"`
	Start             string                 `json:"start,omitempty"`
	End               string                 `json:"end,omitempty"`
	MinutesDuration   *int                   `json:"minutesDuration,omitempty"`
	Created           string                 `json:"created,omitempty"`
	Participant       []wAppointmentParticip `json:"participant,omitempty"`
}

type wAppointmentParticip struct {
	Type     []wConcept  `json:"type,omitempty"`
	Actor    *wReference `json:"actor,omitempty"`
	Required string      `json:"required,omitempty"`
	Status   string      `json:"status,omitempty"`
}

// appointmentToFHIR writes an Appointment. The patient is a participant in
// FHIR: when the participants do not name it, it is added as one who has
// accepted (a booking made for the patient). A participant without a
// status gets needs-action, since R4 requires one.
func appointmentToFHIR(a *unified.Appointment) *wAppointment {
	w := &wAppointment{
		ResourceType: "Appointment", Identifier: identifiers(a.Identifiers), Status: a.Status,
		CancelationReason: concept(a.CancelationReason), ServiceCategory: concepts(a.ServiceCategories),
		ServiceType: concepts(a.ServiceTypes), Specialty: concepts(a.Specialties), AppointmentType: concept(a.AppointmentType),
		ReasonCode: concepts(a.ReasonCodes), Priority: a.Priority, Description: a.Description,
		Start: a.Start, End: a.End, MinutesDuration: a.MinutesDuration, Created: a.CreatedAt,
	}
	patientListed := false
	for i := range a.Participants {
		p := &a.Participants[i]
		wp := wAppointmentParticip{Type: concepts(p.Types), Actor: reference(p.Actor), Required: p.Required, Status: p.Status}
		if wp.Status == "" {
			wp.Status = "needs-action"
		}
		if a.Patient != nil && p.Actor != nil && p.Actor.Resource == a.Patient.Resource && p.Actor.ID == a.Patient.ID {
			patientListed = true
		}
		w.Participant = append(w.Participant, wp)
	}
	if a.Patient != nil && !patientListed {
		w.Participant = append([]wAppointmentParticip{{Actor: reference(a.Patient), Status: "accepted"}}, w.Participant...)
	}
	return w
}

type wDocumentReference struct {
	ResourceType string           `json:"resourceType"`
	Identifier   []wIdentifier    `json:"identifier,omitempty"`
	Status       string           `json:"status,omitempty"`
	DocStatus    string           `json:"docStatus,omitempty"`
	Type         *wConcept        `json:"type,omitempty"`
	Category     []wConcept       `json:"category,omitempty"`
	Subject      *wReference      `json:"subject,omitempty"`
	Date         string           `json:"date,omitempty"`
	Author       []wReference     `json:"author,omitempty"`
	Custodian    *wReference      `json:"custodian,omitempty"`
	Description  string           `json:"description,omitempty"`
	Content      []wDocContent    `json:"content,omitempty"`
	Context      *wDocumentContxt `json:"context,omitempty"`
}

type wDocContent struct {
	Attachment wAttachment `json:"attachment"`
	Format     *wCoding    `json:"format,omitempty"`
}

type wAttachment struct {
	ContentType string `json:"contentType,omitempty"`
	Language    string `json:"language,omitempty"`
	Data        string `json:"data,omitempty"`
	Title       string `json:"title,omitempty"`
	Creation    string `json:"creation,omitempty"`
}

type wDocumentContxt struct {
	Encounter []wReference `json:"encounter,omitempty"`
	Period    *wPeriod     `json:"period,omitempty"`
}

// documentToFHIR writes a DocumentReference with its content inline
// (attachment.data): the note or file the client sent.
func documentToFHIR(d *unified.Document) *wDocumentReference {
	w := &wDocumentReference{
		ResourceType: "DocumentReference", Identifier: identifiers(d.Identifiers), Status: d.Status,
		DocStatus: d.DocStatus, Type: concept(d.Type), Category: concepts(d.Categories), Subject: reference(d.Patient),
		Date: d.Date, Author: references(d.Authors), Custodian: reference(d.Custodian), Description: d.Description,
	}
	for _, c := range d.Contents {
		a := c.Attachment
		wc := wDocContent{Attachment: wAttachment{ContentType: a.ContentType, Language: a.Language, Data: a.Data, Title: a.Title, Creation: a.Creation}}
		if c.Format != nil {
			f := coding(c.Format)
			wc.Format = &f
		}
		w.Content = append(w.Content, wc)
	}
	if len(d.Encounters) > 0 || d.Period != nil {
		w.Context = &wDocumentContxt{Encounter: references(d.Encounters), Period: period(d.Period)}
	}
	return w
}

type wObservation struct {
	ResourceType string `json:"resourceType"`
	wValue
	Identifier        []wIdentifier     `json:"identifier,omitempty"`
	Status            string            `json:"status,omitempty"`
	Category          []wConcept        `json:"category,omitempty"`
	Code              *wConcept         `json:"code,omitempty"`
	Subject           *wReference       `json:"subject,omitempty"`
	Encounter         *wReference       `json:"encounter,omitempty"`
	EffectiveDateTime string            `json:"effectiveDateTime,omitempty"`
	EffectivePeriod   *wPeriod          `json:"effectivePeriod,omitempty"`
	Issued            string            `json:"issued,omitempty"`
	Performer         []wReference      `json:"performer,omitempty"`
	DataAbsentReason  *wConcept         `json:"dataAbsentReason,omitempty"`
	Interpretation    []wConcept        `json:"interpretation,omitempty"`
	BodySite          *wConcept         `json:"bodySite,omitempty"`
	Method            *wConcept         `json:"method,omitempty"`
	ReferenceRange    []wReferenceRange `json:"referenceRange,omitempty"`
	HasMember         []wReference      `json:"hasMember,omitempty"`
	DerivedFrom       []wReference      `json:"derivedFrom,omitempty"`
	Component         []wComponent      `json:"component,omitempty"`
}

type wReferenceRange struct {
	Low       *wQuantity `json:"low,omitempty"`
	High      *wQuantity `json:"high,omitempty"`
	Type      *wConcept  `json:"type,omitempty"`
	AppliesTo []wConcept `json:"appliesTo,omitempty"`
	Age       *wRange    `json:"age,omitempty"`
	Text      string     `json:"text,omitempty"`
}

type wComponent struct {
	wValue
	Code             *wConcept         `json:"code,omitempty"`
	DataAbsentReason *wConcept         `json:"dataAbsentReason,omitempty"`
	Interpretation   []wConcept        `json:"interpretation,omitempty"`
	ReferenceRange   []wReferenceRange `json:"referenceRange,omitempty"`
}

func referenceRanges(rs []unified.ReferenceRange) []wReferenceRange {
	var out []wReferenceRange
	for i := range rs {
		r := &rs[i]
		out = append(out, wReferenceRange{Low: quantity(r.Low), High: quantity(r.High), Type: concept(r.Type),
			AppliesTo: concepts(r.AppliesTo), Age: rangeOf(r.Age), Text: r.Text})
	}
	return out
}

// observationToFHIR writes an Observation: a vital sign (a quantity, or a
// blood pressure's components) or a patient-reported value.
func observationToFHIR(o *unified.Observation) *wObservation {
	w := &wObservation{
		ResourceType: "Observation", wValue: valueOf(o.Value), Identifier: identifiers(o.Identifiers), Status: o.Status,
		Category: concepts(o.Categories), Code: concept(&o.Code), Subject: reference(o.Patient), Encounter: reference(o.Encounter),
		EffectiveDateTime: o.EffectiveAt, EffectivePeriod: period(o.EffectivePeriod), Issued: o.IssuedAt,
		Performer: references(o.Performers), DataAbsentReason: concept(o.DataAbsentReason),
		Interpretation: concepts(o.Interpretations), BodySite: concept(o.BodySite), Method: concept(o.Method),
		ReferenceRange: referenceRanges(o.ReferenceRanges), HasMember: references(o.HasMembers), DerivedFrom: references(o.DerivedFrom),
	}
	for i := range o.Components {
		c := &o.Components[i]
		w.Component = append(w.Component, wComponent{wValue: valueOf(c.Value), Code: concept(&c.Code),
			DataAbsentReason: concept(c.DataAbsentReason), Interpretation: concepts(c.Interpretations),
			ReferenceRange: referenceRanges(c.ReferenceRanges)})
	}
	return w
}
