package unified

import "encoding/json"

// Every resource below ends with the same three fields: UpdatedAt (when the
// source last changed the record, its meta.lastUpdated), Source (provenance)
// and Raw (the untouched source record, only with raw=true). Statuses and
// other FHIR required-binding codes keep FHIR's values ("final", "active").

// Practitioner is a person who provides care (FHIR R4 Practitioner).
type Practitioner struct {
	ID          string         `json:"id"`
	Identifiers []Identifier   `json:"identifiers,omitempty"` // NPI under SystemNPI
	Active      *bool          `json:"active,omitempty"`
	Names       []HumanName    `json:"names,omitempty"`
	Telecom     []ContactPoint `json:"telecom,omitempty"`
	Addresses   []Address      `json:"addresses,omitempty"`
	Gender      string         `json:"gender,omitempty"`
	// Qualifications are degrees, licences and certifications (MD, RN).
	Qualifications []CodeableConcept `json:"qualifications,omitempty"`
	UpdatedAt      string            `json:"updated_at,omitempty"`
	Source         Source            `json:"source"`
	Raw            json.RawMessage   `json:"raw,omitempty"`
}

// Organization is a hospital, clinic, payer or other group (FHIR R4
// Organization).
type Organization struct {
	ID          string            `json:"id"`
	Identifiers []Identifier      `json:"identifiers,omitempty"`
	Active      *bool             `json:"active,omitempty"`
	Types       []CodeableConcept `json:"types,omitempty"` // prov | dept | ins | pay …
	Name        string            `json:"name,omitempty"`
	Aliases     []string          `json:"aliases,omitempty"`
	Telecom     []ContactPoint    `json:"telecom,omitempty"`
	Addresses   []Address         `json:"addresses,omitempty"`
	PartOf      *Reference        `json:"part_of,omitempty"`
	UpdatedAt   string            `json:"updated_at,omitempty"`
	Source      Source            `json:"source"`
	Raw         json.RawMessage   `json:"raw,omitempty"`
}

// Location is a place where care is given (FHIR R4 Location).
type Location struct {
	ID                   string            `json:"id"`
	Identifiers          []Identifier      `json:"identifiers,omitempty"`
	Status               string            `json:"status,omitempty"` // active | suspended | inactive
	Name                 string            `json:"name,omitempty"`
	Mode                 string            `json:"mode,omitempty"` // instance | kind
	Types                []CodeableConcept `json:"types,omitempty"`
	Telecom              []ContactPoint    `json:"telecom,omitempty"`
	Address              *Address          `json:"address,omitempty"`
	Position             *Position         `json:"position,omitempty"`
	ManagingOrganization *Reference        `json:"managing_organization,omitempty"`
	PartOf               *Reference        `json:"part_of,omitempty"`
	UpdatedAt            string            `json:"updated_at,omitempty"`
	Source               Source            `json:"source"`
	Raw                  json.RawMessage   `json:"raw,omitempty"`
}

// Position is a WGS84 coordinate.
type Position struct {
	Latitude  float64  `json:"latitude"`
	Longitude float64  `json:"longitude"`
	Altitude  *float64 `json:"altitude,omitempty"`
}

// Encounter is an interaction between a patient and care providers: a
// visit, an admission, a telehealth call (FHIR R4 Encounter).
type Encounter struct {
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is planned | arrived | triaged | in-progress | onleave |
	// finished | cancelled | entered-in-error | unknown.
	Status string `json:"status,omitempty"`
	// Class is the setting: AMB (ambulatory), IMP (inpatient), EMER, VR
	// (virtual), HH (home health) … from HL7 v3 ActCode.
	Class        *Coding                `json:"class,omitempty"`
	Types        []CodeableConcept      `json:"types,omitempty"`
	ServiceType  *CodeableConcept       `json:"service_type,omitempty"`
	Priority     *CodeableConcept       `json:"priority,omitempty"`
	Patient      *Reference             `json:"patient,omitempty"`
	Participants []EncounterParticipant `json:"participants,omitempty"`
	Period       *Period                `json:"period,omitempty"`
	ReasonCodes  []CodeableConcept      `json:"reason_codes,omitempty"`
	// AdmitSource and DischargeDisposition come from the hospitalization
	// block of an inpatient stay.
	AdmitSource          *CodeableConcept `json:"admit_source,omitempty"`
	DischargeDisposition *CodeableConcept `json:"discharge_disposition,omitempty"`
	Locations            []Reference      `json:"locations,omitempty"`
	ServiceProvider      *Reference       `json:"service_provider,omitempty"`
	UpdatedAt            string           `json:"updated_at,omitempty"`
	Source               Source           `json:"source"`
	Raw                  json.RawMessage  `json:"raw,omitempty"`
}

// EncounterParticipant is someone involved in an encounter, other than the
// patient.
type EncounterParticipant struct {
	Types      []CodeableConcept `json:"types,omitempty"` // ATND (attender), PPRF (primary performer) …
	Individual *Reference        `json:"individual,omitempty"`
	Period     *Period           `json:"period,omitempty"`
}

// Observation is a measurement or assertion: a vital sign, a lab result, a
// social history item, a survey answer (FHIR R4 Observation, US Core vital
// signs and laboratory result profiles).
type Observation struct {
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is registered | preliminary | final | amended | corrected |
	// cancelled | entered-in-error | unknown.
	Status string `json:"status,omitempty"`
	// Categories are vital-signs, laboratory, social-history, imaging,
	// survey, exam … (system http://terminology.hl7.org/CodeSystem/observation-category).
	Categories []CodeableConcept `json:"categories,omitempty"`
	// Code says what was observed, usually in LOINC.
	Code      CodeableConcept `json:"code"`
	Patient   *Reference      `json:"patient,omitempty"`
	Encounter *Reference      `json:"encounter,omitempty"`
	// EffectiveAt is when the observation applies (effectiveDateTime or
	// effectiveInstant); EffectivePeriod when the source gives a span.
	EffectiveAt     string      `json:"effective_at,omitempty"`
	EffectivePeriod *Period     `json:"effective_period,omitempty"`
	IssuedAt        string      `json:"issued_at,omitempty"`
	Performers      []Reference `json:"performers,omitempty"`
	// Value is the result; absent for a panel whose results are in
	// Components or HasMembers, or when DataAbsentReason says why.
	Value            *Value            `json:"value,omitempty"`
	DataAbsentReason *CodeableConcept  `json:"data_absent_reason,omitempty"`
	Interpretations  []CodeableConcept `json:"interpretations,omitempty"` // H, L, N, A …
	BodySite         *CodeableConcept  `json:"body_site,omitempty"`
	Method           *CodeableConcept  `json:"method,omitempty"`
	ReferenceRanges  []ReferenceRange  `json:"reference_ranges,omitempty"`
	// Components are the parts of a multi-part result, such as the
	// systolic and diastolic pressures of a blood pressure.
	Components []ObservationComponent `json:"components,omitempty"`
	// HasMembers are the observations a panel groups.
	HasMembers  []Reference     `json:"has_members,omitempty"`
	DerivedFrom []Reference     `json:"derived_from,omitempty"`
	UpdatedAt   string          `json:"updated_at,omitempty"`
	Source      Source          `json:"source"`
	Raw         json.RawMessage `json:"raw,omitempty"`
}

// ObservationComponent is one part of a multi-part observation.
type ObservationComponent struct {
	Code             CodeableConcept   `json:"code"`
	Value            *Value            `json:"value,omitempty"`
	DataAbsentReason *CodeableConcept  `json:"data_absent_reason,omitempty"`
	Interpretations  []CodeableConcept `json:"interpretations,omitempty"`
	ReferenceRanges  []ReferenceRange  `json:"reference_ranges,omitempty"`
}

// ReferenceRange is the range a result is judged against.
type ReferenceRange struct {
	Low       *Quantity         `json:"low,omitempty"`
	High      *Quantity         `json:"high,omitempty"`
	Type      *CodeableConcept  `json:"type,omitempty"` // normal, therapeutic …
	AppliesTo []CodeableConcept `json:"applies_to,omitempty"`
	Age       *Range            `json:"age,omitempty"`
	Text      string            `json:"text,omitempty"`
}

// Condition is a problem, diagnosis or health concern (FHIR R4 Condition,
// US Core problems and health concerns, encounter diagnoses).
type Condition struct {
	ID                 string            `json:"id"`
	Identifiers        []Identifier      `json:"identifiers,omitempty"`
	ClinicalStatus     string            `json:"clinical_status,omitempty"`     // active | recurrence | relapse | inactive | remission | resolved
	VerificationStatus string            `json:"verification_status,omitempty"` // unconfirmed | provisional | differential | confirmed | refuted | entered-in-error
	Categories         []CodeableConcept `json:"categories,omitempty"`          // problem-list-item | encounter-diagnosis | health-concern
	Severity           *CodeableConcept  `json:"severity,omitempty"`
	// Code is the condition, usually in SNOMED CT or ICD-10-CM.
	Code      CodeableConcept   `json:"code"`
	BodySites []CodeableConcept `json:"body_sites,omitempty"`
	Patient   *Reference        `json:"patient,omitempty"`
	Encounter *Reference        `json:"encounter,omitempty"`
	// OnsetAt and AbatementAt are dates or date-times; a source that gives
	// an age or a period writes its start here.
	OnsetAt     string          `json:"onset_at,omitempty"`
	AbatementAt string          `json:"abatement_at,omitempty"`
	RecordedAt  string          `json:"recorded_at,omitempty"`
	Recorder    *Reference      `json:"recorder,omitempty"`
	UpdatedAt   string          `json:"updated_at,omitempty"`
	Source      Source          `json:"source"`
	Raw         json.RawMessage `json:"raw,omitempty"`
}

// Allergy is an allergy or intolerance (FHIR R4 AllergyIntolerance).
type Allergy struct {
	ID                 string       `json:"id"`
	Identifiers        []Identifier `json:"identifiers,omitempty"`
	ClinicalStatus     string       `json:"clinical_status,omitempty"`     // active | inactive | resolved
	VerificationStatus string       `json:"verification_status,omitempty"` // unconfirmed | confirmed | refuted | entered-in-error
	Type               string       `json:"type,omitempty"`                // allergy | intolerance
	Categories         []string     `json:"categories,omitempty"`          // food | medication | environment | biologic
	Criticality        string       `json:"criticality,omitempty"`         // low | high | unable-to-assess
	// Code is the substance or class, in RxNorm, SNOMED CT or another
	// system.
	Code             CodeableConcept   `json:"code"`
	Patient          *Reference        `json:"patient,omitempty"`
	Encounter        *Reference        `json:"encounter,omitempty"`
	OnsetAt          string            `json:"onset_at,omitempty"`
	RecordedAt       string            `json:"recorded_at,omitempty"`
	LastOccurrenceAt string            `json:"last_occurrence_at,omitempty"`
	Reactions        []AllergyReaction `json:"reactions,omitempty"`
	UpdatedAt        string            `json:"updated_at,omitempty"`
	Source           Source            `json:"source"`
	Raw              json.RawMessage   `json:"raw,omitempty"`
}

// AllergyReaction is one adverse reaction event.
type AllergyReaction struct {
	Substance      *CodeableConcept  `json:"substance,omitempty"`
	Manifestations []CodeableConcept `json:"manifestations,omitempty"`
	Severity       string            `json:"severity,omitempty"` // mild | moderate | severe
	OnsetAt        string            `json:"onset_at,omitempty"`
}

// Medication is an order for a medication (FHIR R4 MedicationRequest), with
// the medication's own codings resolved whether the source gives them inline
// or in a referenced Medication resource.
type Medication struct {
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is active | on-hold | cancelled | completed |
	// entered-in-error | stopped | draft | unknown.
	Status     string            `json:"status,omitempty"`
	Intent     string            `json:"intent,omitempty"` // proposal | plan | order | original-order …
	Categories []CodeableConcept `json:"categories,omitempty"`
	Priority   string            `json:"priority,omitempty"`
	// Medication is the drug, usually in RxNorm.
	Medication CodeableConcept `json:"medication"`
	// MedicationRef is set when the source names the drug through a
	// Medication resource; Medication then holds that resource's code.
	MedicationRef      *Reference        `json:"medication_ref,omitempty"`
	Patient            *Reference        `json:"patient,omitempty"`
	Encounter          *Reference        `json:"encounter,omitempty"`
	AuthoredAt         string            `json:"authored_at,omitempty"`
	Requester          *Reference        `json:"requester,omitempty"`
	ReasonCodes        []CodeableConcept `json:"reason_codes,omitempty"`
	DosageInstructions []Dosage          `json:"dosage_instructions,omitempty"`
	Dispense           *Dispense         `json:"dispense,omitempty"`
	UpdatedAt          string            `json:"updated_at,omitempty"`
	Source             Source            `json:"source"`
	Raw                json.RawMessage   `json:"raw,omitempty"`
}

// Dosage is how a medication is to be taken.
type Dosage struct {
	Text      string           `json:"text,omitempty"`
	AsNeeded  bool             `json:"as_needed,omitempty"`
	Route     *CodeableConcept `json:"route,omitempty"`
	Dose      *Quantity        `json:"dose,omitempty"`
	Frequency int              `json:"frequency,omitempty"` // times per period
	Period    float64          `json:"period,omitempty"`
	// PeriodUnit is s | min | h | d | wk | mo | a (UCUM time units).
	PeriodUnit string `json:"period_unit,omitempty"`
}

// Dispense is what the pharmacy may dispense.
type Dispense struct {
	Quantity               *Quantity `json:"quantity,omitempty"`
	Refills                *int      `json:"refills,omitempty"`
	ExpectedSupplyDuration *Quantity `json:"expected_supply_duration,omitempty"`
}

// Immunization is a vaccination given or reported (FHIR R4 Immunization).
type Immunization struct {
	ID           string           `json:"id"`
	Identifiers  []Identifier     `json:"identifiers,omitempty"`
	Status       string           `json:"status,omitempty"` // completed | entered-in-error | not-done
	StatusReason *CodeableConcept `json:"status_reason,omitempty"`
	// VaccineCode is the vaccine, usually in CVX (and NDC).
	VaccineCode    CodeableConcept  `json:"vaccine_code"`
	Patient        *Reference       `json:"patient,omitempty"`
	Encounter      *Reference       `json:"encounter,omitempty"`
	OccurrenceAt   string           `json:"occurrence_at,omitempty"`
	RecordedAt     string           `json:"recorded_at,omitempty"`
	PrimarySource  *bool            `json:"primary_source,omitempty"`
	Location       *Reference       `json:"location,omitempty"`
	LotNumber      string           `json:"lot_number,omitempty"`
	ExpirationDate string           `json:"expiration_date,omitempty"`
	Site           *CodeableConcept `json:"site,omitempty"`
	Route          *CodeableConcept `json:"route,omitempty"`
	DoseQuantity   *Quantity        `json:"dose_quantity,omitempty"`
	Performers     []Reference      `json:"performers,omitempty"`
	UpdatedAt      string           `json:"updated_at,omitempty"`
	Source         Source           `json:"source"`
	Raw            json.RawMessage  `json:"raw,omitempty"`
}

// Procedure is an action performed on or for a patient (FHIR R4 Procedure).
type Procedure struct {
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is preparation | in-progress | not-done | on-hold | stopped |
	// completed | entered-in-error | unknown.
	Status   string           `json:"status,omitempty"`
	Category *CodeableConcept `json:"category,omitempty"`
	// Code is the procedure, usually in SNOMED CT or CPT.
	Code      CodeableConcept `json:"code"`
	Patient   *Reference      `json:"patient,omitempty"`
	Encounter *Reference      `json:"encounter,omitempty"`
	// PerformedAt is a date-time; PerformedPeriod a span.
	PerformedAt     string            `json:"performed_at,omitempty"`
	PerformedPeriod *Period           `json:"performed_period,omitempty"`
	Performers      []Reference       `json:"performers,omitempty"`
	Location        *Reference        `json:"location,omitempty"`
	ReasonCodes     []CodeableConcept `json:"reason_codes,omitempty"`
	BodySites       []CodeableConcept `json:"body_sites,omitempty"`
	Outcome         *CodeableConcept  `json:"outcome,omitempty"`
	UpdatedAt       string            `json:"updated_at,omitempty"`
	Source          Source            `json:"source"`
	Raw             json.RawMessage   `json:"raw,omitempty"`
}

// DiagnosticReport is the findings of a set of tests: a lab panel, an
// imaging study, a pathology report (FHIR R4 DiagnosticReport).
type DiagnosticReport struct {
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is registered | partial | preliminary | final | amended |
	// corrected | appended | cancelled | entered-in-error | unknown.
	Status          string            `json:"status,omitempty"`
	Categories      []CodeableConcept `json:"categories,omitempty"` // LAB, RAD, … (HL7 v2 table 0074)
	Code            CodeableConcept   `json:"code"`
	Patient         *Reference        `json:"patient,omitempty"`
	Encounter       *Reference        `json:"encounter,omitempty"`
	EffectiveAt     string            `json:"effective_at,omitempty"`
	EffectivePeriod *Period           `json:"effective_period,omitempty"`
	IssuedAt        string            `json:"issued_at,omitempty"`
	Performers      []Reference       `json:"performers,omitempty"`
	// Results are the observations the report is made of.
	Results         []Reference       `json:"results,omitempty"`
	Conclusion      string            `json:"conclusion,omitempty"`
	ConclusionCodes []CodeableConcept `json:"conclusion_codes,omitempty"`
	// PresentedForms describe the rendered report (PDF, text); fetch the
	// content through passthrough.
	PresentedForms []Attachment    `json:"presented_forms,omitempty"`
	UpdatedAt      string          `json:"updated_at,omitempty"`
	Source         Source          `json:"source"`
	Raw            json.RawMessage `json:"raw,omitempty"`
}

// Document is the metadata of a clinical document: a note, a discharge
// summary, a scanned form (FHIR R4 DocumentReference). The content itself is
// never inlined in the unified record; Contents say where to fetch it.
type Document struct {
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Status      string       `json:"status,omitempty"`     // current | superseded | entered-in-error
	DocStatus   string       `json:"doc_status,omitempty"` // preliminary | final | amended | entered-in-error
	// Type is the kind of document, usually in LOINC.
	Type       *CodeableConcept  `json:"type,omitempty"`
	Categories []CodeableConcept `json:"categories,omitempty"`
	// Description is the source's human-readable description of the
	// document ("Discharge summary, cardiology"), what a document list
	// shows as its title.
	Description string            `json:"description,omitempty"`
	Patient     *Reference        `json:"patient,omitempty"`
	Date        string            `json:"date,omitempty"`
	Authors     []Reference       `json:"authors,omitempty"`
	Custodian   *Reference        `json:"custodian,omitempty"`
	Contents    []DocumentContent `json:"contents,omitempty"`
	Encounters  []Reference       `json:"encounters,omitempty"`
	Period      *Period           `json:"period,omitempty"`
	UpdatedAt   string            `json:"updated_at,omitempty"`
	Source      Source            `json:"source"`
	Raw         json.RawMessage   `json:"raw,omitempty"`
}

// DocumentContent is one rendition of a document.
type DocumentContent struct {
	Attachment Attachment `json:"attachment"`
	Format     *Coding    `json:"format,omitempty"`
}

// Appointment is a booking of a patient with providers at a time (FHIR R4
// Appointment).
type Appointment struct {
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is proposed | pending | booked | arrived | fulfilled |
	// cancelled | noshow | entered-in-error | checked-in | waitlist.
	Status            string            `json:"status,omitempty"`
	CancelationReason *CodeableConcept  `json:"cancelation_reason,omitempty"`
	ServiceCategories []CodeableConcept `json:"service_categories,omitempty"`
	ServiceTypes      []CodeableConcept `json:"service_types,omitempty"`
	Specialties       []CodeableConcept `json:"specialties,omitempty"`
	AppointmentType   *CodeableConcept  `json:"appointment_type,omitempty"`
	ReasonCodes       []CodeableConcept `json:"reason_codes,omitempty"`
	Priority          *int              `json:"priority,omitempty"`
	Description       string            `json:"description,omitempty"`
	Start             string            `json:"start,omitempty"`
	End               string            `json:"end,omitempty"`
	MinutesDuration   *int              `json:"minutes_duration,omitempty"`
	CreatedAt         string            `json:"created_at,omitempty"`
	// Patient is the participant that is a patient, lifted out of
	// Participants for convenience.
	Patient      *Reference               `json:"patient,omitempty"`
	Participants []AppointmentParticipant `json:"participants,omitempty"`
	UpdatedAt    string                   `json:"updated_at,omitempty"`
	Source       Source                   `json:"source"`
	Raw          json.RawMessage          `json:"raw,omitempty"`
}

// AppointmentParticipant is a person, location or device taking part.
type AppointmentParticipant struct {
	Actor    *Reference        `json:"actor,omitempty"`
	Types    []CodeableConcept `json:"types,omitempty"`
	Required string            `json:"required,omitempty"` // required | optional | information-only
	Status   string            `json:"status,omitempty"`   // accepted | declined | tentative | needs-action
}

// Coverage is a patient's insurance or other payment arrangement (FHIR R4
// Coverage).
type Coverage struct {
	ID          string           `json:"id"`
	Identifiers []Identifier     `json:"identifiers,omitempty"`
	Status      string           `json:"status,omitempty"` // active | cancelled | draft | entered-in-error
	Type        *CodeableConcept `json:"type,omitempty"`
	// Patient is the beneficiary: the person the coverage pays for.
	Patient      *Reference       `json:"patient,omitempty"`
	Subscriber   *Reference       `json:"subscriber,omitempty"`
	SubscriberID string           `json:"subscriber_id,omitempty"`
	Dependent    string           `json:"dependent,omitempty"`
	Relationship *CodeableConcept `json:"relationship,omitempty"`
	Period       *Period          `json:"period,omitempty"`
	Payors       []Reference      `json:"payors,omitempty"`
	// Classes are the plan, group and similar levels of the coverage.
	Classes   []CoverageClass `json:"classes,omitempty"`
	Order     *int            `json:"order,omitempty"`
	Network   string          `json:"network,omitempty"`
	UpdatedAt string          `json:"updated_at,omitempty"`
	Source    Source          `json:"source"`
	Raw       json.RawMessage `json:"raw,omitempty"`
}

// CoverageClass is one level of a coverage, such as its group or plan.
type CoverageClass struct {
	Type  *CodeableConcept `json:"type,omitempty"` // group | plan | subplan | class | rxbin …
	Value string           `json:"value"`
	Name  string           `json:"name,omitempty"`
}
