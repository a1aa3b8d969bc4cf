package unified

import "strings"

// EventType names what happened at a source: "encounter.started",
// "observation.created". Subscriptions choose events by type, with
// wildcards ("encounter.*").
type EventType string

// The event types. An event's records are the unified records the type
// names; ids-only deliveries keep their references alone.
const (
	// EncounterStarted: a patient was admitted or registered (HL7 v2 ADT
	// A01, A04).
	EncounterStarted EventType = "encounter.started"
	// EncounterUpdated: a patient was transferred, or the visit changed
	// (A02).
	EncounterUpdated EventType = "encounter.updated"
	// EncounterEnded: a patient was discharged (A03).
	EncounterEnded EventType = "encounter.ended"
	// EncounterCancelled: an admission or registration was cancelled
	// (A11): the encounter did not take place.
	EncounterCancelled EventType = "encounter.cancelled"
	// EncounterDischargeCancelled: a discharge was cancelled (A13): the
	// encounter goes on.
	EncounterDischargeCancelled EventType = "encounter.discharge_cancelled"
	// PatientUpdated: a patient's demographics changed (A08, A28, A31).
	PatientUpdated EventType = "patient.updated"
	// PatientMerged: two patient records became one (A40); MergedPatientID
	// is the record that was merged away.
	PatientMerged EventType = "patient.merged"
	// ObservationCreated: one result of a report (ORU^R01, one per OBX).
	ObservationCreated EventType = "observation.created"
	// DiagnosticReportCreated: a report and its results (ORU^R01, one per
	// OBR, after its observations).
	DiagnosticReportCreated EventType = "diagnostic_report.created"
)

// EventTypes returns every event type, in the order above.
func EventTypes() []EventType {
	return []EventType{EncounterStarted, EncounterUpdated, EncounterEnded, EncounterCancelled,
		EncounterDischargeCancelled, PatientUpdated, PatientMerged, ObservationCreated, DiagnosticReportCreated}
}

// Known reports whether t is one of the event types.
func (t EventType) Known() bool {
	for _, k := range EventTypes() {
		if k == t {
			return true
		}
	}
	return false
}

// MatchEventType reports whether pattern selects t: "*" selects every type,
// "encounter.*" every type of that prefix, anything else only itself.
func MatchEventType(pattern string, t EventType) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(string(t), prefix)
	}
	return pattern == string(t)
}

// Event is something that happened at a source, as Ferry delivers it to a
// webhook: the envelope every event type shares, and the records it is
// about. Ferry keeps no copy: an event exists while it is being delivered.
type Event struct {
	// ID is the event's stable id, the same as its delivery's webhook-id:
	// derived from the tenant, the connection, the source's message id and
	// the event's place in the message, so a message the source sends
	// again gives the same ids (deduplicate on it).
	ID string `json:"id"`
	// Type is what happened.
	Type EventType `json:"type"`
	// OccurredAt is when it happened at the source (HL7 v2 EVN-2, else
	// MSH-7), a date-time as precise as the source wrote it.
	OccurredAt string `json:"occurred_at,omitempty"`
	// ConnectionID is the connection the event came through.
	ConnectionID string `json:"connection_id"`
	// PatientID is the id of the patient the event is about, as a read
	// of patients on the connection takes it; absent when the source gave
	// none Ferry accepts as an id.
	PatientID string `json:"patient_id,omitempty"`
	// MergedPatientID is, for patient.merged, the id of the patient
	// record merged into PatientID.
	MergedPatientID string `json:"merged_patient_id,omitempty"`
	// Records reference the records the event is about: the encounter,
	// the observation, the report (with its results), the patient.
	Records []Reference `json:"records"`
	// Data holds the records themselves, only for subscriptions whose
	// payload is "full"; "ids" deliveries (the default) carry the
	// references alone.
	Data *EventData `json:"data,omitempty"`
}

// EventData is the records of an event, in the same unified types as reads.
type EventData struct {
	// Patient is the patient the event is about, as the source described
	// them in the message.
	Patient *Patient `json:"patient,omitempty"`
	// Encounter is the visit of an encounter.* event.
	Encounter *Encounter `json:"encounter,omitempty"`
	// Observation is the result of an observation.created event.
	Observation *Observation `json:"observation,omitempty"`
	// DiagnosticReport is the report of a diagnostic_report.created
	// event, its Results referencing the observations delivered before it.
	DiagnosticReport *DiagnosticReport `json:"diagnostic_report,omitempty"`
}
