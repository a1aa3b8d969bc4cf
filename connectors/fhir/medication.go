package fhir

import (
	"context"
	"encoding/json"
	"errors"

	gojson "github.com/goccy/go-json"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// medicationRequests reads MedicationRequests: a record on its own, and a
// page through medicationPage.
var medicationRequests = newCodec[fhirMedicationRequest, unified.Medication]("MedicationRequest")

func init() {
	register(&resourceMap{
		resource: unified.Medications,
		fhirType: "MedicationRequest",
		params:   clinical{patient: "patient", code: "code", category: "category", status: "status", date: "authoredon"}.params(),
		record:   medicationRequests.record,
		page:     medicationPage,
		// A MedicationRequest often names its drug through a Medication
		// resource; asking for it along with the page saves one request
		// per record.
		include:     []string{"MedicationRequest:medication"},
		resolveRead: resolveMedicationRead,
	})
}

// fhirMedicationRequest holds only the fields of an R4 MedicationRequest
// that the mapping uses.
type fhirMedicationRequest struct {
	resourceHead
	// Contained is kept as bytes: only a contained Medication that the
	// request names is decoded, so a contained resource of another type
	// (whose "code" may not be a CodeableConcept) cannot fail the record.
	Contained                 []json.RawMessage     `json:"contained"`
	Identifier                []fhirIdentifier      `json:"identifier"`
	Status                    string                `json:"status"`
	Intent                    string                `json:"intent"`
	Category                  []fhirCodeableConcept `json:"category"`
	Priority                  string                `json:"priority"`
	MedicationCodeableConcept *fhirCodeableConcept  `json:"medicationCodeableConcept"`
	MedicationReference       *fhirReference        `json:"medicationReference"`
	Subject                   fhirReference         `json:"subject"`
	Encounter                 fhirReference         `json:"encounter"`
	AuthoredOn                string                `json:"authoredOn"`
	Requester                 fhirReference         `json:"requester"`
	ReasonCode                []fhirCodeableConcept `json:"reasonCode"`
	DosageInstruction         []fhirDosage          `json:"dosageInstruction"`
	DispenseRequest           fhirDispenseRequest   `json:"dispenseRequest"`

	// included are the Medication resources that came along in the same
	// searchset, by fullUrl and by "Medication/<id>"; nil outside a search.
	included map[string]json.RawMessage
}

type fhirDosage struct {
	Text                    string              `json:"text"`
	AsNeededBoolean         *bool               `json:"asNeededBoolean"`
	AsNeededCodeableConcept fhirCodeableConcept `json:"asNeededCodeableConcept"`
	Route                   fhirCodeableConcept `json:"route"`
	DoseAndRate             []struct {
		DoseQuantity fhirQuantity `json:"doseQuantity"`
	} `json:"doseAndRate"`
	Timing struct {
		Repeat struct {
			Frequency  int     `json:"frequency"`
			Period     float64 `json:"period"`
			PeriodUnit string  `json:"periodUnit"`
		} `json:"repeat"`
	} `json:"timing"`
}

func (m *fhirMedicationRequest) reset() {
	*m = fhirMedicationRequest{
		Contained:         reuseRaw(m.Contained),
		Identifier:        reuse(m.Identifier),
		Category:          reuse(m.Category),
		ReasonCode:        reuse(m.ReasonCode),
		DosageInstruction: reuse(m.DosageInstruction),
	}
}

func (d *fhirDosage) reset() {
	*d = fhirDosage{
		AsNeededCodeableConcept: emptied(&d.AsNeededCodeableConcept),
		Route:                   emptied(&d.Route),
		DoseAndRate:             clearList(d.DoseAndRate),
	}
}

type fhirDispenseRequest struct {
	NumberOfRepeatsAllowed *int         `json:"numberOfRepeatsAllowed"`
	Quantity               fhirQuantity `json:"quantity"`
	ExpectedSupplyDuration fhirQuantity `json:"expectedSupplyDuration"`
}

// fhirMedication is the part of an R4 Medication that names the drug.
type fhirMedication struct {
	resourceHead
	Code fhirCodeableConcept `json:"code"`
}

// unified maps the MedicationRequest. The drug is medicationCodeableConcept
// when the source gives it inline; otherwise it is the code of the
// Medication that medicationReference names, found among the contained
// resources ("#id") or the Medications the search included. A Medication
// that cannot be found leaves medication empty and medication_ref as the
// only trace (a read fills it afterwards with resolveMedicationRead).
func (m *fhirMedicationRequest) unified(mp *mapper, src unified.Source, raw json.RawMessage) unified.Medication {
	u := unified.Medication{
		ID:          m.ID,
		Identifiers: mp.identifierList(m.Identifier),
		Status:      m.Status,
		Intent:      m.Intent,
		Categories:  mp.conceptList(m.Category),
		Priority:    m.Priority,
		Patient:     mp.referenceTo(&m.Subject, unified.Patients),
		Encounter:   mp.referenceTo(&m.Encounter, unified.Encounters),
		AuthoredAt:  m.AuthoredOn,
		Requester:   mp.reference(&m.Requester),
		ReasonCodes: mp.conceptList(m.ReasonCode),
		UpdatedAt:   m.updated(),
		Source:      src,
		Raw:         raw,
	}
	// medication[x] is a choice; a source that sends both (invalid FHIR)
	// is read by the inline concept, which needs no lookup.
	switch {
	case m.MedicationCodeableConcept != nil:
		u.Medication = mp.conceptValue(m.MedicationCodeableConcept)
	case m.MedicationReference != nil:
		u.MedicationRef = mp.reference(m.MedicationReference)
		if med := m.medication(m.MedicationReference.Reference); med != nil {
			u.Medication = mp.conceptValue(&med.Code)
		}
	}
	for i := range m.DosageInstruction {
		if d, ok := mp.dosage(&m.DosageInstruction[i]); ok {
			u.DosageInstructions = append(u.DosageInstructions, d)
		}
	}
	u.Dispense = mp.dispense(&m.DispenseRequest)
	return u
}

// medication finds the Medication that ref names: a contained one for
// "#id", else one the search included. nil when there is none, or when it
// does not decode as a Medication.
func (m *fhirMedicationRequest) medication(ref string) *fhirMedication {
	if ref == "" {
		return nil
	}
	if ref[0] == '#' {
		for _, c := range m.Contained {
			var head resourceHead
			if gojson.Unmarshal(c, &head) != nil || head.ResourceType != "Medication" || head.ID != ref[1:] {
				continue
			}
			return decodeMedication(c)
		}
		return nil
	}
	if m.included == nil {
		return nil
	}
	body, ok := m.included[ref]
	if !ok {
		// A relative reference may carry a version ("Medication/1/_history/2"),
		// which the index does not.
		if typ, id, rel := relativeReference(ref); rel && typ == "Medication" {
			body, ok = m.included["Medication/"+id]
		}
	}
	if !ok {
		return nil
	}
	return decodeMedication(body)
}

func decodeMedication(body []byte) *fhirMedication {
	var med fhirMedication
	if gojson.Unmarshal(body, &med) != nil || med.ResourceType != "Medication" {
		return nil
	}
	return &med
}

// dosage maps one dosage instruction; ok is false when nothing of it can be
// expressed. asNeededCodeableConcept says the drug is taken as needed, for
// the reason it codes, so it sets as_needed as asNeededBoolean true does.
// Only the first doseAndRate's doseQuantity is kept: a dose range has no
// place in the unified model.
func (m *mapper) dosage(d *fhirDosage) (unified.Dosage, bool) {
	_, asNeeded := m.conceptOf(&d.AsNeededCodeableConcept)
	u := unified.Dosage{
		Text:     d.Text,
		AsNeeded: (d.AsNeededBoolean != nil && *d.AsNeededBoolean) || asNeeded,
		Route:    m.concept(&d.Route),
	}
	if len(d.DoseAndRate) > 0 {
		u.Dose = m.quantity(&d.DoseAndRate[0].DoseQuantity)
	}
	r := &d.Timing.Repeat
	u.Frequency, u.Period, u.PeriodUnit = r.Frequency, r.Period, r.PeriodUnit
	return u, u != (unified.Dosage{})
}

func (m *mapper) dispense(d *fhirDispenseRequest) *unified.Dispense {
	u := unified.Dispense{
		Quantity:               m.quantity(&d.Quantity),
		Refills:                d.NumberOfRepeatsAllowed,
		ExpectedSupplyDuration: m.quantity(&d.ExpectedSupplyDuration),
	}
	if u == (unified.Dispense{}) {
		return nil
	}
	return &u
}

// medicationSearchset is a searchset whose entries keep their fullUrl, by
// which an absolute or urn:uuid medicationReference names an included
// Medication. Its Entry hides the embedded searchset's.
type medicationSearchset struct {
	searchset[json.RawMessage]
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Search   struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

// medicationPage maps a searchset of MedicationRequests, resolving each
// one's medicationReference against the Medications the Bundle carries.
// Every Medication entry that is not a match is indexed: a server that
// omits search.mode still includes what _include asked for.
func medicationPage(body []byte, src unified.Source, raw bool) ([]json.RawMessage, pageInfo, error) {
	b := &medicationSearchset{}
	if err := gojson.Unmarshal(body, b); err != nil {
		return nil, pageInfo{}, errNotFHIR
	}
	if b.ResourceType != "Bundle" || (b.Type != "" && b.Type != "searchset") {
		return nil, pageInfo{}, connectors.Errorf(connectors.CodeUpstream, "fhir: source answered a search with something that is not a searchset Bundle")
	}
	var included map[string]json.RawMessage
	for i := range b.Entry {
		e := &b.Entry[i]
		if e.Search.Mode == "match" || e.Search.Mode == "outcome" {
			continue
		}
		var head resourceHead
		if len(e.Resource) == 0 || gojson.Unmarshal(e.Resource, &head) != nil || head.ResourceType != "Medication" {
			continue
		}
		if included == nil {
			included = map[string]json.RawMessage{}
		}
		if e.FullURL != "" {
			included[e.FullURL] = e.Resource
		}
		if unified.ValidID(head.ID) {
			included["Medication/"+head.ID] = e.Resource
		}
	}
	c := medicationRequests
	st := c.get()
	defer c.put(st)
	for i := range b.Entry {
		e := &b.Entry[i]
		if e.Search.Mode == "outcome" || e.Search.Mode == "include" {
			continue
		}
		p, err := c.decode(st, e.Resource, true)
		if errors.Is(err, errOtherType) {
			continue
		}
		if err != nil {
			return nil, pageInfo{}, err
		}
		p.included = included
		var rawBody []byte
		if raw {
			rawBody = e.Resource
		}
		if err := c.encode(st, p, src, rawBody); err != nil {
			return nil, pageInfo{}, err
		}
	}
	return st.records(), b.page(len(st.ends)), nil
}

// resolveMedicationRead completes a read of a MedicationRequest whose drug is
// a Medication held by the source under a relative reference
// ("Medication/123"), which neither the record itself nor an _include can
// resolve on a read: it reads that Medication through the same transport
// and fills the record's medication with its code. body is the
// MedicationRequest as the source answered it and rec its mapped record;
// for any other resource, or a request that needs no lookup, rec is
// returned unchanged.
//
// A Medication the source no longer has (404, 410) leaves the record as
// it is: the request itself was found. Any other failure fails the read,
// since answering without the drug would hide the source's fault.
func resolveMedicationRead(ctx context.Context, tr connectors.Transport, body []byte, rec json.RawMessage) (json.RawMessage, error) {
	var f struct {
		MedicationCodeableConcept *fhirCodeableConcept `json:"medicationCodeableConcept"`
		MedicationReference       *fhirReference       `json:"medicationReference"`
	}
	if gojson.Unmarshal(body, &f) != nil || f.MedicationCodeableConcept != nil || f.MedicationReference == nil {
		return rec, nil
	}
	typ, id, ok := relativeReference(f.MedicationReference.Reference)
	if !ok || typ != "Medication" {
		return rec, nil
	}
	resp, err := tr.Do(ctx, &connectors.HTTPRequest{Method: "GET", Path: "Medication/" + id, Header: acceptHeader()})
	if err != nil {
		return nil, err
	}
	if err := statusError(resp.Status, false); err != nil {
		if connectors.CodeOf(err) == connectors.CodeNotFound {
			return rec, nil
		}
		return nil, err
	}
	var med fhirMedication
	if gojson.Unmarshal(resp.Body, &med) != nil {
		return nil, errNotFHIR
	}
	if med.ResourceType != "Medication" || (med.ID != "" && med.ID != id) {
		return nil, connectors.Errorf(connectors.CodeUpstream, "fhir: source answered another record than the Medication asked for")
	}
	var m mapper
	code := m.concept(&med.Code)
	if code == nil {
		return rec, nil
	}
	var u unified.Medication
	if gojson.Unmarshal(rec, &u) != nil {
		return nil, connectors.Errorf(connectors.CodeInternal, "fhir: a mapped medication does not decode")
	}
	u.Medication = *code
	out, err := gojson.Marshal(&u)
	if err != nil {
		return nil, errNotFHIR
	}
	return out, nil
}
