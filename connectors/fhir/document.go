package fhir

import (
	"encoding/json"

	"github.com/ferryhealth/ferry/unified"
)

func init() {
	c := newCodec[fhirDocumentReference, unified.Document]("DocumentReference")
	register(&resourceMap{
		resource: unified.Documents,
		fhirType: "DocumentReference",
		params:   clinical{patient: "patient", code: "type", category: "category", status: "status", date: "date"}.params(),
		record:   c.record,
		page:     c.page,
	})
}

// fhirDocumentReference holds only the fields of an R4 DocumentReference
// that the mapping uses. An attachment's data is decoded only to learn that
// the content is inline (see fhirAttachment): sources such as Synthea embed
// whole clinical notes there, in base64, and the unified record carries
// metadata only.
type fhirDocumentReference struct {
	resourceHead
	MasterIdentifier fhirIdentifier        `json:"masterIdentifier"`
	Identifier       []fhirIdentifier      `json:"identifier"`
	Status           string                `json:"status"`
	DocStatus        string                `json:"docStatus"`
	Type             fhirCodeableConcept   `json:"type"`
	Category         []fhirCodeableConcept `json:"category"`
	Subject          fhirReference         `json:"subject"`
	Date             string                `json:"date"`
	Author           []fhirReference       `json:"author"`
	Custodian        fhirReference         `json:"custodian"`
	Description      string                `json:"description"`
	Content          []struct {
		Attachment fhirAttachment `json:"attachment"`
		Format     fhirCoding     `json:"format"`
	} `json:"content"`
	Context struct {
		Encounter []fhirReference `json:"encounter"`
		Period    fhirPeriod      `json:"period"`
	} `json:"context"`
}

func (d *fhirDocumentReference) reset() {
	*d = fhirDocumentReference{
		MasterIdentifier: emptied(&d.MasterIdentifier),
		Identifier:       reuse(d.Identifier),
		Type:             emptied(&d.Type),
		Category:         reuse(d.Category),
		Author:           clearList(d.Author),
		Content:          clearList(d.Content),
	}
}

// unified maps the DocumentReference. The masterIdentifier, the
// document's identifier as its author assigned it, comes first among the
// identifiers. context.encounter may name an EpisodeOfCare, which is not
// an encounter and is left out.
func (d *fhirDocumentReference) unified(m *mapper, src unified.Source, raw json.RawMessage) unified.Document {
	u := unified.Document{
		ID:          d.ID,
		Status:      d.Status,
		DocStatus:   d.DocStatus,
		Type:        m.concept(&d.Type),
		Categories:  m.conceptList(d.Category),
		Description: d.Description,
		Patient:     m.referenceTo(&d.Subject, unified.Patients),
		Date:        d.Date,
		Authors:     m.referenceList(d.Author),
		Custodian:   m.reference(&d.Custodian),
		UpdatedAt:   d.updated(),
		Source:      src,
		Raw:         raw,
	}
	ids := d.Identifier
	if d.MasterIdentifier.Value != "" {
		ids = append([]fhirIdentifier{d.MasterIdentifier}, ids...)
	}
	u.Identifiers = m.identifierList(ids)
	for i := range d.Content {
		c := &d.Content[i]
		dc := unified.DocumentContent{Attachment: attachment(&c.Attachment), Format: m.coding(&c.Format)}
		if dc.Attachment == (unified.Attachment{}) && dc.Format == nil {
			continue
		}
		u.Contents = append(u.Contents, dc)
	}
	for i := range d.Context.Encounter {
		if r := m.referenceTo(&d.Context.Encounter[i], unified.Encounters); r != nil {
			u.Encounters = append(u.Encounters, *r)
		}
	}
	u.Period = m.period(&d.Context.Period)
	return u
}
