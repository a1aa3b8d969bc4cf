package hl7v2

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

var _ connectors.EventMapper = (*Connector)(nil)

// adtEvents maps ADT trigger events to event types. A trigger not listed
// (A05 pre-admit, A12 cancel transfer …) gives no event: the message is
// acknowledged and nothing is delivered.
var adtEvents = map[string]unified.EventType{
	"A01": unified.EncounterStarted,
	"A04": unified.EncounterStarted,
	"A02": unified.EncounterUpdated,
	"A03": unified.EncounterEnded,
	"A11": unified.EncounterCancelled,
	"A13": unified.EncounterDischargeCancelled,
	"A08": unified.PatientUpdated,
	"A28": unified.PatientUpdated,
	"A31": unified.PatientUpdated,
	"A40": unified.PatientMerged,
}

// encounterStatus is the encounter's status after each trigger.
var encounterStatus = map[string]string{
	"A01": "in-progress", "A02": "in-progress", "A04": "arrived", "A03": "finished",
	"A11": "cancelled", "A13": "in-progress",
}

// MapEvent maps one message of a feed to events (see the package
// documentation, Events). A message that does not parse, or lacks the
// segment its type needs, is refused with CodeInvalidArgument and no
// content; one of a type the connector does not map gives no events.
func (c *Connector) MapEvent(ctx context.Context, req *connectors.MapEventRequest) (*connectors.MapEventResponse, error) {
	conn, err := c.connection(req.ConnectionID)
	if err != nil {
		return nil, err
	}
	m, err := Parse(req.Message)
	if err != nil {
		return nil, connectors.Errorf(connectors.CodeInvalidArgument, "hl7v2: the message does not parse")
	}
	events, err := conn.events(m, c.source(req.ConnectionID))
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(events))
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return nil, connectors.Errorf(connectors.CodeInternal, "hl7v2: encoding an event")
		}
		out = append(out, b)
	}
	return &connectors.MapEventResponse{Events: out}, nil
}

func invalid(why string) error {
	return connectors.Errorf(connectors.CodeInvalidArgument, "hl7v2: %s", why)
}

// events maps a parsed message.
func (conn *connection) events(m *Message, src unified.Source) ([]unified.Event, error) {
	msh := m.Header()
	if msh == nil {
		return nil, invalid("no MSH segment")
	}
	kind, trigger := msh.Get(9, 1, 1, 1), msh.Get(9, 1, 2, 1)
	if trigger == "" {
		if evn := m.Segment("EVN"); evn != nil {
			trigger = evn.Value(1)
		}
	}
	occurred := occurredAt(m)
	switch {
	case kind == "ADT" && trigger == "A40":
		return conn.merges(m, src, occurred)
	case kind == "ADT" && adtEvents[trigger] != "":
		return conn.adt(m, trigger, src, occurred)
	case kind == "ORU" && trigger == "R01":
		return conn.results(m, src, occurred)
	}
	return nil, nil
}

// occurredAt is EVN-6 (when the event occurred), else EVN-2 (when it was
// recorded), else MSH-7 (when the message was made).
func occurredAt(m *Message) string {
	if evn := m.Segment("EVN"); evn != nil {
		for _, f := range []int{6, 2} {
			if t, ok := parseDTM(evn.Get(f, 1, 1, 1)); ok {
				return t.dateTime()
			}
		}
	}
	if t, ok := parseDTM(m.Header().Get(7, 1, 1, 1)); ok {
		return t.dateTime()
	}
	return ""
}

// patient maps the message's PID segment; it is required.
func (conn *connection) patient(pid *Segment, src unified.Source) (*unified.Patient, error) {
	if pid == nil {
		return nil, invalid("no PID segment")
	}
	p := conn.mapping.Patient(pid, src, false)
	return &p, nil
}

func patientRef(p *unified.Patient) unified.Reference {
	return unified.Reference{Resource: unified.Patients, ID: p.ID}
}

// adt maps an ADT message with one patient (and, for encounter events, its
// visit).
func (conn *connection) adt(m *Message, trigger string, src unified.Source, occurred string) ([]unified.Event, error) {
	p, err := conn.patient(m.Segment("PID"), src)
	if err != nil {
		return nil, err
	}
	ev := unified.Event{Type: adtEvents[trigger], OccurredAt: occurred, ConnectionID: src.ConnectionID, PatientID: p.ID,
		Data: &unified.EventData{Patient: p}}
	if ev.Type == unified.PatientUpdated {
		ev.Records = []unified.Reference{patientRef(p)}
		return []unified.Event{ev}, nil
	}
	pv1 := m.Segment("PV1")
	if pv1 == nil {
		return nil, invalid("no PV1 segment")
	}
	e := encounter(pv1, p, src, encounterStatus[trigger])
	ev.Data.Encounter = e
	ev.Records = []unified.Reference{{Resource: unified.Encounters, ID: e.ID}, patientRef(p)}
	return []unified.Event{ev}, nil
}

// merges maps an A40: each PID/MRG pair is one merge, the PID the record
// that survives, MRG-1 the one merged into it.
func (conn *connection) merges(m *Message, src unified.Source, occurred string) ([]unified.Event, error) {
	var out []unified.Event
	var p *unified.Patient
	for _, s := range m.Segments {
		switch s.Name {
		case "PID":
			var err error
			if p, err = conn.patient(s, src); err != nil {
				return nil, err
			}
		case "MRG":
			if p == nil {
				return nil, invalid("MRG before PID")
			}
			merged := conn.priorID(s.Field(1))
			out = append(out, unified.Event{Type: unified.PatientMerged, OccurredAt: occurred, ConnectionID: src.ConnectionID,
				PatientID: p.ID, MergedPatientID: merged,
				Records: []unified.Reference{patientRef(p), {Resource: unified.Patients, ID: merged}},
				Data:    &unified.EventData{Patient: p}})
		}
	}
	if len(out) == 0 {
		return nil, invalid("an A40 without MRG")
	}
	return out, nil
}

// priorID picks the merged record's id from MRG-1 as PatientMapping picks
// a patient's from PID-3: the identifier in the connection's id_authority,
// else the first.
func (conn *connection) priorID(f Field) string {
	var first string
	for _, r := range f {
		id := nullable(r.Value(1))
		if id == "" {
			continue
		}
		if conn.s.IDAuthority.IsZero() {
			first = id
			break
		}
		if conn.s.IDAuthority.Matches(readHD(r.Comp(4))) {
			first = id
			break
		}
	}
	if !unified.ValidID(first) {
		return ""
	}
	return first
}

// patientClasses maps PV1-2 (HL7 table 0004) to HL7 v3 ActCode.
var patientClasses = map[string]string{
	"I": "IMP", "O": "AMB", "E": "EMER", "P": "PRENC", "R": "AMB", "B": "AMB",
}

// encounter maps PV1: 19 visit number (the id), 2 class, 3 assigned
// location, 6 prior location, 7/8/17 attending, referring and admitting
// doctors, 10 hospital service, 14 admit source, 36 discharge disposition,
// 44/45 admit and discharge times.
func encounter(pv1 *Segment, p *unified.Patient, src unified.Source, status string) *unified.Encounter {
	id := nullable(pv1.Get(19, 1, 1, 1))
	e := &unified.Encounter{Status: status, Source: src}
	e.Source.SourceID = id
	if unified.ValidID(id) {
		e.ID = id
	}
	if id != "" {
		e.Identifiers = []unified.Identifier{{Value: id, Type: &unified.Coding{System: SystemV2IdentifierType, Code: "VN"}}}
	}
	if p.ID != "" {
		ref := patientRef(p)
		e.Patient = &ref
	}
	if c := patientClasses[pv1.Value(2)]; c != "" {
		e.Class = &unified.Coding{System: systemActCode, Code: c}
	}
	for _, f := range []int{3, 6} {
		if loc := location(pv1.Field(f).Rep(1)); loc != "" {
			e.Locations = append(e.Locations, unified.Reference{Display: loc})
		}
	}
	for _, d := range []struct {
		field int
		role  string
	}{{7, "ATND"}, {8, "REF"}, {17, "ADM"}} {
		for _, r := range pv1.Field(d.field) {
			if ind := doctor(r); ind != nil {
				e.Participants = append(e.Participants, unified.EncounterParticipant{
					Types:      []unified.CodeableConcept{{Codings: []unified.Coding{{System: systemParticipationType, Code: d.role}}}},
					Individual: ind,
				})
			}
		}
	}
	e.ServiceType = codeOnly(systemV2Table+"0069", pv1.Value(10))
	e.AdmitSource = codeOnly(systemV2Table+"0023", pv1.Value(14))
	e.DischargeDisposition = codeOnly(systemV2Table+"0112", pv1.Value(36))
	var period unified.Period
	if t, ok := parseDTM(pv1.Get(44, 1, 1, 1)); ok {
		period.Start = t.dateTime()
	}
	if t, ok := parseDTM(pv1.Get(45, 1, 1, 1)); ok {
		period.End = t.dateTime()
	}
	if period != (unified.Period{}) {
		e.Period = &period
	}
	return e
}

// location writes a PL (point of care, room, bed, facility) as one display
// text: Ferry cannot follow it to a location record.
func location(r Repetition) string {
	parts := appendNonEmpty(nil, r.Value(1), r.Value(2), r.Value(3), r.Value(4))
	return strings.Join(parts, " ")
}

// doctor maps an XCN (id, family name, given name) to a display-only
// reference.
func doctor(r Repetition) *unified.Reference {
	name := strings.Join(appendNonEmpty(nil, r.Value(6), r.Value(3), r.Value(4), r.Comp(2).Sub(1)), " ")
	if name == "" {
		name = nullable(r.Value(1))
	}
	if name == "" {
		return nil
	}
	return &unified.Reference{Display: name}
}

// codeOnly is a concept of one code in system, or nil for no code.
func codeOnly(system, code string) *unified.CodeableConcept {
	code = nullable(code)
	if code == "" {
		return nil
	}
	return &unified.CodeableConcept{Codings: []unified.Coding{{System: system, Code: code}}}
}

// The code systems events write beyond those of patients.
const (
	systemActCode           = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemParticipationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	systemInterpretation    = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	systemObsCategory       = "http://terminology.hl7.org/CodeSystem/observation-category"
	systemV2Table           = "http://terminology.hl7.org/CodeSystem/v2-"
)
