package unified

import (
	"encoding/base64"
	"strconv"
	"time"
)

// What the unified API lets a client write. A create (POST) sends a whole
// record of the resource's type; an update (PATCH) sends a partial one,
// only fields the resource lists as updatable. Either way a record never
// carries ReadOnlyFields: the source assigns them.

// ReadOnlyFields are the top-level fields a write body must not carry.
var ReadOnlyFields = []string{"id", "source", "updated_at", "raw"}

// WriteSpec says how one resource is written.
type WriteSpec struct {
	// Required are the top-level fields a create must carry.
	Required []string
	// Updatable are the top-level fields an update may carry.
	Updatable []string
	// check finds what a decoded record's values get wrong (codes, dates),
	// as FieldProblems with JSON paths.
	check func(rec any, add func(path, reason string))
}

// FieldProblem is one thing wrong with a write body: the JSON path of the
// value ("$.participants[0].status") and a reason from a closed set.
type FieldProblem struct {
	// Path is the JSON path of the offending member ("$.start",
	// "$.participants[0].status"); a key that is not an identifier is
	// written [?].
	Path string `json:"path"`
	// Reason is unknown_field | read_only | required | not_updatable |
	// wrong_type | invalid_code | invalid_date | invalid.
	Reason string `json:"reason"`
}

// The reasons of FieldProblem: a closed set, so that a problem never
// carries a value the client sent.
const (
	ReasonUnknownField = "unknown_field" // not a field of the resource
	ReasonReadOnly     = "read_only"     // assigned by the source
	ReasonRequired     = "required"      // a create needs it
	ReasonNotUpdatable = "not_updatable" // an update may not change it
	ReasonWrongType    = "wrong_type"    // not the JSON type of the field
	ReasonInvalidCode  = "invalid_code"  // not one of the field's codes
	ReasonInvalidDate  = "invalid_date"  // not a date or date-time
	ReasonInvalid      = "invalid"       // otherwise malformed
)

var writeSpecs = map[ResourceType]WriteSpec{
	Appointments: {
		Required:  []string{"status", "start", "end", "patient"},
		Updatable: []string{"status", "start", "end", "minutes_duration", "cancelation_reason", "description", "priority"},
		check:     checkAppointment,
	},
	Documents: {
		Required:  []string{"status", "type", "patient", "contents"},
		Updatable: []string{"status", "doc_status", "description"},
		check:     checkDocument,
	},
	Observations: {
		Required:  []string{"status", "code", "patient", "effective_at"},
		Updatable: []string{"status", "value", "components", "interpretations", "data_absent_reason"},
		check:     checkObservation,
	},
}

// Writable returns how r is written, if the unified API writes it at all.
func Writable(r ResourceType) (WriteSpec, bool) {
	s, ok := writeSpecs[r]
	return s, ok
}

// WritableResources lists the resources the unified API can write.
func WritableResources() []ResourceType {
	var out []ResourceType
	for _, r := range ResourceTypes() {
		if _, ok := writeSpecs[r]; ok {
			out = append(out, r)
		}
	}
	return out
}

// CheckValues reports what the values of a decoded record (a pointer to
// the resource's Go type) get wrong: codes outside their value set, dates
// that are not dates. Fields a partial record leaves out are not checked.
func (s WriteSpec) CheckValues(rec any) []FieldProblem {
	var out []FieldProblem
	if s.check != nil {
		s.check(rec, func(path, reason string) { out = append(out, FieldProblem{Path: path, Reason: reason}) })
	}
	return out
}

var (
	appointmentStatuses = codes("proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error", "checked-in", "waitlist")
	participantRequired = codes("required", "optional", "information-only")
	participantStatuses = codes("accepted", "declined", "tentative", "needs-action")
	documentStatuses    = codes("current", "superseded", "entered-in-error")
	docStatuses         = codes("preliminary", "final", "amended", "entered-in-error")
	observationStatuses = codes("registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown")
	valueTypes          = codes("quantity", "codeable_concept", "string", "boolean", "integer", "range", "ratio", "date_time", "time", "period")
)

func codes(cs ...string) map[string]bool {
	m := make(map[string]bool, len(cs))
	for _, c := range cs {
		m[c] = true
	}
	return m
}

func code(add func(string, string), path, v string, set map[string]bool) {
	if v != "" && !set[v] {
		add(path, ReasonInvalidCode)
	}
}

// dateTime checks a FHIR dateTime with a time zone when it has a time.
func dateTime(add func(string, string), path, v string) {
	if v != "" && !ValidDate(v) {
		add(path, ReasonInvalidDate)
	}
}

// instant checks a point in time with its time zone (an appointment's
// start and end).
func instant(add func(string, string), path, v string) {
	if v == "" {
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
		add(path, ReasonInvalidDate)
	}
}

func reference(add func(string, string), path string, r *Reference) {
	if r == nil {
		return
	}
	if r.Resource != "" && !r.Resource.Known() {
		add(path+".resource", ReasonInvalidCode)
	}
	if r.ID != "" && !ValidID(r.ID) {
		add(path+".id", ReasonInvalid)
	}
	if (r.Resource == "") != (r.ID == "") {
		add(path, ReasonInvalid)
	}
}

func checkAppointment(rec any, add func(string, string)) {
	a := rec.(*Appointment)
	code(add, "$.status", a.Status, appointmentStatuses)
	instant(add, "$.start", a.Start)
	instant(add, "$.end", a.End)
	dateTime(add, "$.created_at", a.CreatedAt)
	if a.Patient != nil && a.Patient.Resource != Patients {
		add("$.patient.resource", ReasonInvalidCode)
	}
	reference(add, "$.patient", a.Patient)
	if a.Priority != nil && (*a.Priority < 0 || *a.Priority > 9) {
		add("$.priority", ReasonInvalid)
	}
	if a.MinutesDuration != nil && *a.MinutesDuration <= 0 {
		add("$.minutes_duration", ReasonInvalid)
	}
	for i, p := range a.Participants {
		path := "$.participants[" + strconv.Itoa(i) + "]"
		reference(add, path+".actor", p.Actor)
		code(add, path+".required", p.Required, participantRequired)
		code(add, path+".status", p.Status, participantStatuses)
	}
}

func checkDocument(rec any, add func(string, string)) {
	d := rec.(*Document)
	code(add, "$.status", d.Status, documentStatuses)
	code(add, "$.doc_status", d.DocStatus, docStatuses)
	dateTime(add, "$.date", d.Date)
	if d.Patient != nil && d.Patient.Resource != Patients {
		add("$.patient.resource", ReasonInvalidCode)
	}
	reference(add, "$.patient", d.Patient)
	for i, r := range d.Authors {
		reference(add, "$.authors["+strconv.Itoa(i)+"]", &r)
	}
	// A note is written as one content: its text or file, inline.
	if d.Contents != nil && len(d.Contents) != 1 {
		add("$.contents", ReasonInvalid)
	}
	for i, c := range d.Contents {
		path := "$.contents[" + strconv.Itoa(i) + "].attachment"
		switch {
		case c.Attachment.ContentType == "":
			add(path+".content_type", ReasonRequired)
		case c.Attachment.Data == "":
			add(path+".data", ReasonRequired)
		default:
			if _, err := base64.StdEncoding.DecodeString(c.Attachment.Data); err != nil {
				add(path+".data", ReasonInvalid)
			}
		}
		if c.Attachment.PassthroughPath != "" {
			add(path+".passthrough_path", ReasonReadOnly)
		}
		dateTime(add, path+".creation", c.Attachment.Creation)
	}
}

func checkObservation(rec any, add func(string, string)) {
	o := rec.(*Observation)
	code(add, "$.status", o.Status, observationStatuses)
	dateTime(add, "$.effective_at", o.EffectiveAt)
	dateTime(add, "$.issued_at", o.IssuedAt)
	if o.Patient != nil && o.Patient.Resource != Patients {
		add("$.patient.resource", ReasonInvalidCode)
	}
	reference(add, "$.patient", o.Patient)
	reference(add, "$.encounter", o.Encounter)
	checkValue(add, "$.value", o.Value)
	for i, c := range o.Components {
		checkValue(add, "$.components["+strconv.Itoa(i)+"].value", c.Value)
	}
}

// checkValue checks a value[x]: a known type, and exactly the field it
// names set.
func checkValue(add func(string, string), path string, v *Value) {
	if v == nil {
		return
	}
	if !valueTypes[v.Type] {
		add(path+".type", ReasonInvalidCode)
		return
	}
	set := [...]struct {
		name string
		ok   bool
	}{
		{"quantity", v.Quantity != nil}, {"codeable_concept", v.Concept != nil}, {"string", v.String != nil},
		{"boolean", v.Boolean != nil}, {"integer", v.Integer != nil}, {"range", v.Range != nil}, {"ratio", v.Ratio != nil},
		{"date_time", v.DateTime != ""}, {"time", v.Time != ""}, {"period", v.Period != nil},
	}
	for _, f := range set {
		if f.ok != (f.name == v.Type) {
			add(path+"."+f.name, ReasonInvalid)
		}
	}
	if v.Quantity != nil && v.Quantity.Value == nil {
		add(path+".quantity.value", ReasonRequired)
	}
	dateTime(add, path+".date_time", v.DateTime)
}
