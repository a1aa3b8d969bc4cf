package hl7v2

import (
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/connectors/mapping"
	"github.com/ferryhealth/ferry/unified"
)

// results maps an ORU^R01: for each OBR, an observation.created per OBX
// that follows it, then a diagnostic_report.created for the report, which
// lists them. OBX segments before any OBR belong to no report and are left
// out, as are the segments (NTE, SPM …) events do not carry.
func (conn *connection) results(m *Message, src unified.Source, occurred string) ([]unified.Event, error) {
	p, err := conn.patient(m.Segment("PID"), src)
	if err != nil {
		return nil, err
	}
	var out []unified.Event
	var report *unified.DiagnosticReport
	var obr *Segment
	reports := 0
	flush := func() {
		if report == nil {
			return
		}
		ref := unified.Reference{Resource: unified.DiagnosticReports, ID: report.ID}
		out = append(out, unified.Event{Type: unified.DiagnosticReportCreated, OccurredAt: occurred, ConnectionID: src.ConnectionID,
			PatientID: p.ID, Records: []unified.Reference{ref, patientRef(p)},
			Data: &unified.EventData{Patient: p, DiagnosticReport: report}})
		report = nil
	}
	for _, s := range m.Segments {
		switch s.Name {
		case "OBR":
			flush()
			obr = s
			reports++
			report = diagnosticReport(s, p, src, reports)
		case "OBX":
			if report == nil {
				continue
			}
			o := observation(s, obr, report, p, src)
			ref := unified.Reference{Resource: unified.Observations, ID: o.ID}
			report.Results = append(report.Results, ref)
			out = append(out, unified.Event{Type: unified.ObservationCreated, OccurredAt: occurred, ConnectionID: src.ConnectionID,
				PatientID: p.ID, Records: []unified.Reference{ref, patientRef(p)},
				Data: &unified.EventData{Patient: p, Observation: o}})
		}
	}
	flush()
	if len(out) == 0 {
		return nil, invalid("an ORU^R01 without OBR")
	}
	return out, nil
}

// reportStatuses maps OBR-25 (HL7 table 0123) to FHIR's report status.
var reportStatuses = map[string]string{
	"O": "registered", "I": "registered", "S": "registered", "P": "preliminary", "A": "partial",
	"R": "preliminary", "C": "corrected", "F": "final", "X": "cancelled", "Y": "unknown", "Z": "unknown",
}

// resultStatuses maps OBX-11 (HL7 table 0085) to FHIR's observation status.
var resultStatuses = map[string]string{
	"C": "corrected", "D": "entered-in-error", "F": "final", "I": "registered", "P": "preliminary",
	"R": "preliminary", "S": "preliminary", "U": "final", "W": "entered-in-error", "X": "cancelled",
}

// diagnosticReport maps OBR: 3 filler order number (the id; else 2, the
// placer's), 4 the service, 7 when observed, 22 when reported, 24 the
// diagnostic service section, 25 the status. nth (from 1) tells reports
// without an order number apart.
func diagnosticReport(obr *Segment, p *unified.Patient, src unified.Source, nth int) *unified.DiagnosticReport {
	id := nullable(obr.Get(3, 1, 1, 1))
	if id == "" {
		id = nullable(obr.Get(2, 1, 1, 1))
	}
	r := &unified.DiagnosticReport{Status: reportStatuses[obr.Value(25)], Source: src}
	r.Source.SourceID = id
	if unified.ValidID(id) {
		r.ID = id
	} else if id == "" {
		r.ID = "obr-" + strconv.Itoa(nth)
	}
	if id != "" {
		r.Identifiers = []unified.Identifier{{Value: id, Type: &unified.Coding{System: SystemV2IdentifierType, Code: "FILL"}}}
	}
	if c := concept(obr.Field(4).Rep(1)); c != nil {
		r.Code = *c
	}
	if p.ID != "" {
		ref := patientRef(p)
		r.Patient = &ref
	}
	if t, ok := parseDTM(obr.Get(7, 1, 1, 1)); ok {
		r.EffectiveAt = t.dateTime()
	}
	if t, ok := parseDTM(obr.Get(22, 1, 1, 1)); ok {
		r.IssuedAt = t.dateTime()
	}
	if c := codeOnly(systemV2Table+"0074", obr.Value(24)); c != nil {
		r.Categories = []unified.CodeableConcept{*c}
	}
	return r
}

// observation maps OBX: 1 set id (with the report's id, the observation's
// id), 2 value type, 3 what was observed, 5 the value, 6 units, 7 the
// reference range, 8 abnormal flags, 11 status, 14 when observed (else the
// report's OBR-7).
func observation(obx, obr *Segment, r *unified.DiagnosticReport, p *unified.Patient, src unified.Source) *unified.Observation {
	set := nullable(obx.Value(1))
	if set == "" {
		set = strconv.Itoa(len(r.Results) + 1)
	}
	id := r.ID + "-" + set
	o := &unified.Observation{Status: resultStatuses[obx.Value(11)], Source: src,
		Categories: []unified.CodeableConcept{{Codings: []unified.Coding{{System: systemObsCategory, Code: "laboratory"}}}}}
	o.Source.SourceID = id
	if unified.ValidID(id) {
		o.ID = id
	}
	if c := concept(obx.Field(3).Rep(1)); c != nil {
		o.Code = *c
	}
	if p.ID != "" {
		ref := patientRef(p)
		o.Patient = &ref
	}
	if t, ok := parseDTM(obx.Get(14, 1, 1, 1)); ok {
		o.EffectiveAt = t.dateTime()
	} else if t, ok := parseDTM(obr.Get(7, 1, 1, 1)); ok {
		o.EffectiveAt = t.dateTime()
	}
	o.IssuedAt = r.IssuedAt
	o.Value = value(obx.Value(2), obx.Field(5).Rep(1), obx.Get(6, 1, 1, 1))
	if rr := strings.TrimSpace(nullable(obx.Value(7))); rr != "" {
		o.ReferenceRanges = []unified.ReferenceRange{{Text: rr}}
	}
	for _, rep := range obx.Field(8) {
		if f := nullable(rep.Value(1)); f != "" {
			o.Interpretations = append(o.Interpretations, unified.CodeableConcept{Codings: []unified.Coding{{System: systemInterpretation, Code: f}}})
		}
	}
	return o
}

// concept maps a CE/CWE: 1 code, 2 text, 3 coding system, and 4–6 the
// same again for an alternate coding.
func concept(r Repetition) *unified.CodeableConcept {
	var codings []unified.Coding
	for _, base := range []int{1, 4} {
		if cd, ok := mapping.Coding(r.Value(base+2), nullable(r.Value(base)), r.Value(base+1)); ok {
			codings = append(codings, cd)
		}
	}
	text := nullable(r.Value(2))
	if text == "" && len(codings) == 0 {
		text = nullable(r.Value(1))
	}
	return mapping.Concept(text, codings...)
}

// value maps OBX-5 by its type (OBX-2): NM and SN as quantities with the
// unit of OBX-6, CE/CWE as concepts, dates as date-times, anything else
// (ST, TX, FT) as text. A value that does not read as its type is kept as
// text rather than dropped.
func value(kind string, v Repetition, unit string) *unified.Value {
	raw := nullable(v.Value(1))
	switch kind {
	case "NM":
		if q, ok := mapping.Quantity(raw, unit); ok && q.Value != nil {
			return &unified.Value{Type: unified.ValueQuantity, Quantity: q}
		}
	case "SN":
		// comparator ^ number ^ separator ^ number: a plain comparison
		// ("<^5") is a quantity; a ratio or range stays text.
		if nullable(v.Value(3)) == "" {
			if q, ok := mapping.Quantity(v.Value(1)+v.Value(2), unit); ok && q.Value != nil {
				return &unified.Value{Type: unified.ValueQuantity, Quantity: q}
			}
		}
		raw = strings.Join(appendNonEmpty(nil, v.Value(1), v.Value(2), v.Value(3), v.Value(4)), "")
	case "CE", "CWE", "CNE":
		if c := concept(v); c != nil {
			return &unified.Value{Type: unified.ValueCodeableConcept, Concept: c}
		}
	case "DT", "TS", "DTM":
		if t, ok := parseDTM(raw); ok {
			return &unified.Value{Type: unified.ValueDateTime, DateTime: t.dateTime()}
		}
	}
	if raw == "" {
		return nil
	}
	return &unified.Value{Type: unified.ValueString, String: &raw}
}
