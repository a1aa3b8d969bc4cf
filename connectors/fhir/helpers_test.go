package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

// patientRecord and patientPage are the Patient mapping's functions, under
// the names the Patient tests were written with.
func patientRecord(body []byte, src unified.Source, raw, inBundle bool) (json.RawMessage, error) {
	return resourceMaps[unified.Patients].record(body, src, raw, inBundle)
}

func patientPage(body []byte, src unified.Source, raw bool) ([]json.RawMessage, pageInfo, error) {
	return resourceMaps[unified.Patients].page(body, src, raw)
}
