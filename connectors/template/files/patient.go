package main

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/mapping"
	"github.com/ferryhealth/ferry/unified"
)

// sourcePatient is the source's patient, decoding only the fields the
// mapping uses.
type sourcePatient struct {
	ID         string   `json:"id"`
	MRN        string   `json:"mrn"`
	FamilyName string   `json:"family_name"`
	GivenNames []string `json:"given_names"`
	Sex        string   `json:"sex"`
	BirthDate  string   `json:"birth_date"`
	Updated    string   `json:"updated"`
}

// sourcePage is one page of a patient search.
type sourcePage struct {
	Patients   []json.RawMessage `json:"patients"`
	NextOffset int               `json:"next_offset"`
}

// mapPatient maps one source patient to a unified one. A body the mapping
// cannot read is the source's fault: CodeUpstream, never a panic.
func mapPatient(body []byte, src unified.Source, s *Settings, raw bool) (json.RawMessage, error) {
	var p sourcePatient
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, connectors.Errorf(connectors.CodeUpstream, "templatekind: patient is not readable JSON")
	}
	if !unified.ValidID(p.ID) {
		return nil, connectors.Errorf(connectors.CodeUpstream, "templatekind: patient without a usable id")
	}
	src.SourceID = p.ID
	out := unified.Patient{ID: p.ID, Source: src}
	if p.MRN != "" {
		out.Identifiers = []unified.Identifier{{
			System: s.MRNSystem, Value: p.MRN,
			Type: &unified.Coding{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR"},
		}}
	}
	if p.FamilyName != "" || len(p.GivenNames) > 0 {
		out.Names = []unified.HumanName{{Use: "official", Family: p.FamilyName, Given: p.GivenNames}}
	}
	// Dates keep the source's precision; a value the helpers cannot read
	// is left out rather than guessed.
	if d, ok := mapping.Date(p.BirthDate); ok {
		out.BirthDate = d
	}
	if g, ok := mapping.Gender(p.Sex); ok {
		out.Gender = g
	}
	if u, ok := mapping.DateTime(p.Updated, nil); ok {
		out.UpdatedAt = u
	}
	if raw {
		out.Raw = json.RawMessage(body)
	}
	return json.Marshal(&out)
}

// mapPatientPage maps a search page and returns the offset of the next one
// (0 when there is none).
func mapPatientPage(body []byte, src unified.Source, s *Settings, raw bool) ([]json.RawMessage, int, error) {
	var pg sourcePage
	if err := json.Unmarshal(body, &pg); err != nil {
		return nil, 0, connectors.Errorf(connectors.CodeUpstream, "templatekind: search page is not readable JSON")
	}
	recs := make([]json.RawMessage, 0, len(pg.Patients))
	for _, p := range pg.Patients {
		rec, err := mapPatient(p, src, s, raw)
		if err != nil {
			return nil, 0, err
		}
		recs = append(recs, rec)
	}
	return recs, pg.NextOffset, nil
}
