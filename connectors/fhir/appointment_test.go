package fhir

import (
	"reflect"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

func TestAppointmentSearch(t *testing.T) {
	adminCapability(t, unified.Appointments,
		[]string{"patient_id", "date_gte", "date_lt", "status", "updated_gte", "sort"}, []string{"patient_id"})
	adminWantQuery(t, unified.Appointments,
		map[string]string{"patient_id": "example", "date_gte": "2013-12", "date_lt": "2014", "status": "booked", "updated_gte": "2024-01-02"},
		"Appointment",
		connectors.Param{Name: "patient", Value: "example"},
		connectors.Param{Name: "date", Value: "ge2013-12"},
		connectors.Param{Name: "date", Value: "lt2014"},
		connectors.Param{Name: "status", Value: "booked"},
		connectors.Param{Name: "_lastUpdated", Value: "ge2024-01-02"},
	)
	_, _, err := adminQuery(t, unified.Appointments, map[string]string{"date_gte": "2013-12"})
	wantCode(t, err, connectors.CodeInvalidArgument, "patient_id")
	_, _, err = adminQuery(t, unified.Appointments, map[string]string{"patient_id": "example", "code": "x"})
	wantCode(t, err, connectors.CodeUnsupported, "code")
}

func TestAppointmentMapping(t *testing.T) {
	a := adminMap[unified.Appointment](t, unified.Appointments, `{
		"resourceType": "Appointment", "id": "a1",
		"meta": {"lastUpdated": "2024-05-06T07:08:09Z"},
		"status": "cancelled",
		"cancelationReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason", "code": "pat"}]},
		"priority": 0,
		"minutesDuration": 30,
		"participant": [
			{},
			{"actor": {"display": "Peter (by phone)"}, "status": "accepted"},
			{"actor": {"reference": "Practitioner/dr1"}, "required": "required", "status": "accepted"},
			{"actor": {"reference": "Patient/p1", "display": "Peter"}, "status": "declined"},
			{"actor": {"reference": "Patient/p2"}, "status": "accepted"}
		]
	}`)
	want := unified.Appointment{
		ID:     "a1",
		Status: "cancelled",
		CancelationReason: &unified.CodeableConcept{Codings: []unified.Coding{
			{System: "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason", Code: "pat"},
		}},
		Priority:        new(0),
		MinutesDuration: new(30),
		// The first participant that is a Patient, not a display that may
		// name one; it stays among the participants with its status.
		Patient: &unified.Reference{Resource: unified.Patients, ID: "p1", Display: "Peter"},
		Participants: []unified.AppointmentParticipant{
			{Actor: &unified.Reference{Display: "Peter (by phone)"}, Status: "accepted"},
			{Actor: &unified.Reference{Resource: unified.Practitioners, ID: "dr1"}, Required: "required", Status: "accepted"},
			{Actor: &unified.Reference{Resource: unified.Patients, ID: "p1", Display: "Peter"}, Status: "declined"},
			{Actor: &unified.Reference{Resource: unified.Patients, ID: "p2"}, Status: "accepted"},
		},
		UpdatedAt: "2024-05-06T07:08:09Z",
		Source:    adminSource("a1"),
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("mapped\n%+v\nwant\n%+v", a, want)
	}

	// Without a patient participant there is no patient.
	a = adminMap[unified.Appointment](t, unified.Appointments, `{"resourceType": "Appointment", "id": "a2",
		"participant": [{"actor": {"reference": "Location/1"}}, {"actor": {"reference": "urn:uuid:1f2e", "display": "P"}}]}`)
	if a.Patient != nil || len(a.Participants) != 2 {
		t.Errorf("patient %+v participants %+v", a.Patient, a.Participants)
	}
}
