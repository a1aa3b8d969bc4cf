package unified

import "encoding/json"

// Every resource below ends with the same three fields: UpdatedAt (when the
// source last changed the record, its meta.lastUpdated), Source (provenance)
// and Raw (the untouched source record, only with raw=true). Statuses and
// other FHIR required-binding codes keep FHIR's values ("final", "active").

// Practitioner is a person who provides care (FHIR R4 Practitioner).
type Practitioner struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/practitioners/{id}.
	ID          string       `json:"id"`
	Identifiers []Identifier `json:"identifiers,omitempty"` // NPI under SystemNPI
	// Active says whether the practitioner's record is in active use;
	// absent when the source does not say.
	Active *bool `json:"active,omitempty"`
	// Names are the practitioner's names (official, usual …).
	Names []HumanName `json:"names,omitempty"`
	// Telecom lists the practitioner's phone numbers, email addresses and
	// other contact points.
	Telecom []ContactPoint `json:"telecom,omitempty"`
	// Addresses are the practitioner's postal addresses, usually of work.
	Addresses []Address `json:"addresses,omitempty"`
	// Gender is male | female | other | unknown.
	Gender string `json:"gender,omitempty"`
	// Qualifications are degrees, licences and certifications (MD, RN).
	Qualifications []CodeableConcept `json:"qualifications,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Organization is a hospital, clinic, payer or other group (FHIR R4
// Organization).
type Organization struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/organizations/{id}.
	ID string `json:"id"`
	// Identifiers are the organization's business identifiers, such as its
	// NPI (under SystemNPI) or tax id.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Active says whether the organization's record is in active use;
	// absent when the source does not say.
	Active *bool             `json:"active,omitempty"`
	Types  []CodeableConcept `json:"types,omitempty"` // prov | dept | ins | pay …
	// Name is the organization's name as the source uses it.
	Name string `json:"name,omitempty"`
	// Aliases are other names the organization is or was known by.
	Aliases []string `json:"aliases,omitempty"`
	// Telecom lists the organization's phone numbers, email addresses,
	// websites and other contact points.
	Telecom []ContactPoint `json:"telecom,omitempty"`
	// Addresses are the organization's postal addresses.
	Addresses []Address `json:"addresses,omitempty"`
	// PartOf is the organization this one belongs to, such as a
	// department's hospital.
	PartOf *Reference `json:"part_of,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Location is a place where care is given (FHIR R4 Location).
type Location struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/locations/{id}.
	ID string `json:"id"`
	// Identifiers are the location's business identifiers, such as a
	// facility code.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Status      string       `json:"status,omitempty"` // active | suspended | inactive
	// Name is the location's name as people use it ("Cardiology Clinic,
	// 3rd floor").
	Name string `json:"name,omitempty"`
	Mode string `json:"mode,omitempty"` // instance | kind
	// Types are the kind of place: HOSP (hospital), ER (emergency room),
	// PHARM (pharmacy) … from HL7 v3 ServiceDeliveryLocationRoleType.
	Types []CodeableConcept `json:"types,omitempty"`
	// Telecom lists the location's phone and fax numbers and other contact
	// points.
	Telecom []ContactPoint `json:"telecom,omitempty"`
	// Address is the location's postal address.
	Address *Address `json:"address,omitempty"`
	// Position is the location's geographic coordinates, present when the
	// source gives both latitude and longitude.
	Position *Position `json:"position,omitempty"`
	// ManagingOrganization is the organization responsible for the
	// location.
	ManagingOrganization *Reference `json:"managing_organization,omitempty"`
	// PartOf is the location this one is within (a room's ward, a ward's
	// building).
	PartOf *Reference `json:"part_of,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Position is a WGS84 coordinate.
type Position struct {
	// Latitude is in decimal degrees, positive north of the equator.
	Latitude float64 `json:"latitude"`
	// Longitude is in decimal degrees, positive east of Greenwich.
	Longitude float64 `json:"longitude"`
	// Altitude is the height in meters above sea level, as in KML; absent
	// when the source does not give it.
	Altitude *float64 `json:"altitude,omitempty"`
}

// Encounter is an interaction between a patient and care providers: a
// visit, an admission, a telehealth call (FHIR R4 Encounter).
type Encounter struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/encounters/{id}.
	ID string `json:"id"`
	// Identifiers are the encounter's business identifiers, such as a
	// visit or account number.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is planned | arrived | triaged | in-progress | onleave |
	// finished | cancelled | entered-in-error | unknown.
	Status string `json:"status,omitempty"`
	// Class is the setting: AMB (ambulatory), IMP (inpatient), EMER, VR
	// (virtual), HH (home health) … from HL7 v3 ActCode.
	Class *Coding `json:"class,omitempty"`
	// Types are the specific kind of encounter (an office visit, a
	// consultation), often in CPT or SNOMED CT.
	Types []CodeableConcept `json:"types,omitempty"`
	// ServiceType is the broad category of service provided (cardiology,
	// physiotherapy).
	ServiceType *CodeableConcept `json:"service_type,omitempty"`
	// Priority is the urgency of the encounter: EM (emergency), UR
	// (urgent), R (routine), EL (elective) … from HL7 v3 ActPriority.
	Priority *CodeableConcept `json:"priority,omitempty"`
	// Patient is the patient the encounter is with (FHIR
	// Encounter.subject); absent when the subject is not a patient.
	Patient *Reference `json:"patient,omitempty"`
	// Participants are the people involved other than the patient, usually
	// practitioners, with their roles.
	Participants []EncounterParticipant `json:"participants,omitempty"`
	// Period is when the encounter began and ended; no end while it is in
	// progress.
	Period *Period `json:"period,omitempty"`
	// ReasonCodes are why the encounter took place, as codes (SNOMED CT,
	// ICD-10-CM); a reason given only by reference to a condition is not
	// included.
	ReasonCodes []CodeableConcept `json:"reason_codes,omitempty"`
	// AdmitSource is where the patient was admitted from (a physician
	// referral, the emergency department, another hospital). AdmitSource
	// and DischargeDisposition come from the hospitalization block of an
	// inpatient stay.
	AdmitSource *CodeableConcept `json:"admit_source,omitempty"`
	// DischargeDisposition is where the patient went after the stay (home,
	// a skilled nursing facility, another hospital, expired …).
	DischargeDisposition *CodeableConcept `json:"discharge_disposition,omitempty"`
	// Locations are the places the patient was during the encounter, each
	// listed once.
	Locations []Reference `json:"locations,omitempty"`
	// ServiceProvider is the organization responsible for the encounter.
	ServiceProvider *Reference `json:"service_provider,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// EncounterParticipant is someone involved in an encounter, other than the
// patient.
type EncounterParticipant struct {
	Types []CodeableConcept `json:"types,omitempty"` // ATND (attender), PPRF (primary performer) …
	// Individual is who took part, usually a practitioner; a reference to
	// a PractitionerRole or RelatedPerson keeps only its display.
	Individual *Reference `json:"individual,omitempty"`
	// Period is when the individual took part, if not the whole encounter.
	Period *Period `json:"period,omitempty"`
}

// Observation is a measurement or assertion: a vital sign, a lab result, a
// social history item, a survey answer (FHIR R4 Observation, US Core vital
// signs and laboratory result profiles).
type Observation struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/observations/{id}.
	ID string `json:"id"`
	// Identifiers are the observation's business identifiers, such as the
	// lab's result id.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is registered | preliminary | final | amended | corrected |
	// cancelled | entered-in-error | unknown.
	Status string `json:"status,omitempty"`
	// Categories are vital-signs, laboratory, social-history, imaging,
	// survey, exam … (system http://terminology.hl7.org/CodeSystem/observation-category).
	Categories []CodeableConcept `json:"categories,omitempty"`
	// Code says what was observed, usually in LOINC.
	Code CodeableConcept `json:"code"`
	// Patient is the patient the observation is about (FHIR
	// Observation.subject); absent when the subject is not a patient (a
	// group, a device, a location).
	Patient *Reference `json:"patient,omitempty"`
	// Encounter is the encounter during which the observation was made.
	Encounter *Reference `json:"encounter,omitempty"`
	// EffectiveAt is when the observation applies (effectiveDateTime or
	// effectiveInstant); EffectivePeriod when the source gives a span.
	EffectiveAt string `json:"effective_at,omitempty"`
	// EffectivePeriod is when the observation applies, when the source
	// gives a span rather than a point in time (a 24-hour urine
	// collection).
	EffectivePeriod *Period `json:"effective_period,omitempty"`
	// IssuedAt is when this version of the result was made available to
	// providers, typically after review (FHIR Observation.issued).
	IssuedAt string `json:"issued_at,omitempty"`
	// Performers are who is responsible for the observation: a
	// practitioner, an organization such as the lab, the patient …
	Performers []Reference `json:"performers,omitempty"`
	// Value is the result; absent for a panel whose results are in
	// Components or HasMembers, or when DataAbsentReason says why.
	Value *Value `json:"value,omitempty"`
	// DataAbsentReason says why Value is absent: unknown | asked-declined
	// | not-performed | error | masked … (system
	// http://terminology.hl7.org/CodeSystem/data-absent-reason).
	DataAbsentReason *CodeableConcept  `json:"data_absent_reason,omitempty"`
	Interpretations  []CodeableConcept `json:"interpretations,omitempty"` // H, L, N, A …
	// BodySite is the part of the body observed, usually in SNOMED CT;
	// absent when Code implies it.
	BodySite *CodeableConcept `json:"body_site,omitempty"`
	// Method is how the observation was made, when Code does not imply it.
	Method *CodeableConcept `json:"method,omitempty"`
	// ReferenceRanges are the ranges to judge Value against, such as the
	// lab's normal range.
	ReferenceRanges []ReferenceRange `json:"reference_ranges,omitempty"`
	// Components are the parts of a multi-part result, such as the
	// systolic and diastolic pressures of a blood pressure.
	Components []ObservationComponent `json:"components,omitempty"`
	// HasMembers are the observations a panel groups.
	HasMembers []Reference `json:"has_members,omitempty"`
	// DerivedFrom are the observations or other records the value was
	// derived from, such as the measurements behind a BMI.
	DerivedFrom []Reference `json:"derived_from,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// ObservationComponent is one part of a multi-part observation.
type ObservationComponent struct {
	// Code says what the component measures, usually in LOINC (8480-6,
	// systolic blood pressure).
	Code CodeableConcept `json:"code"`
	// Value is the component's result; absent when DataAbsentReason says
	// why.
	Value *Value `json:"value,omitempty"`
	// DataAbsentReason says why Value is absent, with the same codes as an
	// observation's.
	DataAbsentReason *CodeableConcept `json:"data_absent_reason,omitempty"`
	// Interpretations flag the component's result: H (high), L (low), N
	// (normal), A (abnormal) … from HL7 v3 ObservationInterpretation.
	Interpretations []CodeableConcept `json:"interpretations,omitempty"`
	// ReferenceRanges are the ranges to judge the component's Value
	// against.
	ReferenceRanges []ReferenceRange `json:"reference_ranges,omitempty"`
}

// ReferenceRange is the range a result is judged against.
type ReferenceRange struct {
	// Low is the lower limit, inclusive; absent when there is none (a
	// range "<5").
	Low *Quantity `json:"low,omitempty"`
	// High is the upper limit, inclusive; absent when there is none (a
	// range ">60").
	High *Quantity        `json:"high,omitempty"`
	Type *CodeableConcept `json:"type,omitempty"` // normal, therapeutic …
	// AppliesTo are the populations the range is for (a sex, a race, a
	// pregnancy state); absent when it applies to everyone.
	AppliesTo []CodeableConcept `json:"applies_to,omitempty"`
	// Age is the ages the range applies to, its bounds in UCUM time units
	// (a for years, mo, wk).
	Age *Range `json:"age,omitempty"`
	// Text is the range in words, when it cannot be given as quantities or
	// adds to them ("Negative", "<5 ng/mL").
	Text string `json:"text,omitempty"`
}

// Condition is a problem, diagnosis or health concern (FHIR R4 Condition,
// US Core problems and health concerns, encounter diagnoses).
type Condition struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/conditions/{id}.
	ID string `json:"id"`
	// Identifiers are business identifiers the source or other systems
	// assigned to the condition.
	Identifiers        []Identifier      `json:"identifiers,omitempty"`
	ClinicalStatus     string            `json:"clinical_status,omitempty"`     // active | recurrence | relapse | inactive | remission | resolved
	VerificationStatus string            `json:"verification_status,omitempty"` // unconfirmed | provisional | differential | confirmed | refuted | entered-in-error
	Categories         []CodeableConcept `json:"categories,omitempty"`          // problem-list-item | encounter-diagnosis | health-concern
	// Severity is the clinician's assessment of severity, usually SNOMED
	// CT mild (255604002), moderate (6736007) or severe (24484000).
	Severity *CodeableConcept `json:"severity,omitempty"`
	// Code is the condition, usually in SNOMED CT or ICD-10-CM.
	Code CodeableConcept `json:"code"`
	// BodySites are the anatomical locations of the condition, usually in
	// SNOMED CT.
	BodySites []CodeableConcept `json:"body_sites,omitempty"`
	// Patient is the patient who has the condition (FHIR
	// Condition.subject); absent when the subject is not a patient.
	Patient *Reference `json:"patient,omitempty"`
	// Encounter is the encounter during which the condition was recorded,
	// such as the visit of an encounter diagnosis.
	Encounter *Reference `json:"encounter,omitempty"`
	// OnsetAt and AbatementAt are dates or date-times; a source that gives
	// an age or a period writes its start here.
	OnsetAt string `json:"onset_at,omitempty"`
	// AbatementAt is when the condition resolved or went into remission,
	// as precise as the source wrote it; absent while it is active or when
	// unknown.
	AbatementAt string `json:"abatement_at,omitempty"`
	// RecordedAt is when the condition was first recorded in the source
	// (FHIR Condition.recordedDate), as precise as the source wrote it.
	RecordedAt string `json:"recorded_at,omitempty"`
	// Recorder is who recorded the condition, usually a practitioner.
	Recorder *Reference `json:"recorder,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Allergy is an allergy or intolerance (FHIR R4 AllergyIntolerance).
type Allergy struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/allergies/{id}.
	ID string `json:"id"`
	// Identifiers are business identifiers the source or other systems
	// assigned to the allergy.
	Identifiers        []Identifier `json:"identifiers,omitempty"`
	ClinicalStatus     string       `json:"clinical_status,omitempty"`     // active | inactive | resolved
	VerificationStatus string       `json:"verification_status,omitempty"` // unconfirmed | confirmed | refuted | entered-in-error
	Type               string       `json:"type,omitempty"`                // allergy | intolerance
	Categories         []string     `json:"categories,omitempty"`          // food | medication | environment | biologic
	Criticality        string       `json:"criticality,omitempty"`         // low | high | unable-to-assess
	// Code is the substance or class, in RxNorm, SNOMED CT or another
	// system.
	Code CodeableConcept `json:"code"`
	// Patient is the patient who has the allergy or intolerance.
	Patient *Reference `json:"patient,omitempty"`
	// Encounter is the encounter during which the allergy was recorded.
	Encounter *Reference `json:"encounter,omitempty"`
	// OnsetAt is when the allergy or intolerance was identified, a date or
	// date-time as precise as the source wrote it; a source that gives a
	// period writes its start here.
	OnsetAt string `json:"onset_at,omitempty"`
	// RecordedAt is when the allergy was first recorded in the source
	// (FHIR AllergyIntolerance.recordedDate), as precise as the source
	// wrote it.
	RecordedAt string `json:"recorded_at,omitempty"`
	// LastOccurrenceAt is when the last known reaction happened, a date or
	// date-time as precise as the source wrote it.
	LastOccurrenceAt string `json:"last_occurrence_at,omitempty"`
	// Reactions are the adverse reactions the patient has had on exposure.
	Reactions []AllergyReaction `json:"reactions,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// AllergyReaction is one adverse reaction event.
type AllergyReaction struct {
	// Substance is the specific substance or product that caused this
	// reaction, when more precise than the allergy's code (a named drug of
	// a drug class).
	Substance *CodeableConcept `json:"substance,omitempty"`
	// Manifestations are the signs and symptoms of the reaction (hives,
	// anaphylaxis), usually in SNOMED CT.
	Manifestations []CodeableConcept `json:"manifestations,omitempty"`
	Severity       string            `json:"severity,omitempty"` // mild | moderate | severe
	// OnsetAt is when the reaction began, a date or date-time as precise
	// as the source wrote it.
	OnsetAt string `json:"onset_at,omitempty"`
}

// Medication is an order for a medication (FHIR R4 MedicationRequest), with
// the medication's own codings resolved whether the source gives them inline
// or in a referenced Medication resource.
type Medication struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/medications/{id}.
	ID string `json:"id"`
	// Identifiers are the order's business identifiers, such as the
	// prescription number.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is active | on-hold | cancelled | completed |
	// entered-in-error | stopped | draft | unknown.
	Status string `json:"status,omitempty"`
	Intent string `json:"intent,omitempty"` // proposal | plan | order | original-order …
	// Categories say where the medication is to be taken: inpatient |
	// outpatient | community | discharge (system
	// http://terminology.hl7.org/CodeSystem/medicationrequest-category).
	Categories []CodeableConcept `json:"categories,omitempty"`
	// Priority is routine | urgent | asap | stat.
	Priority string `json:"priority,omitempty"`
	// Medication is the drug, usually in RxNorm.
	Medication CodeableConcept `json:"medication"`
	// MedicationRef is set when the source names the drug through a
	// Medication resource; Medication then holds that resource's code.
	MedicationRef *Reference `json:"medication_ref,omitempty"`
	// Patient is the patient the order is for (FHIR
	// MedicationRequest.subject); absent when the subject is not a patient.
	Patient *Reference `json:"patient,omitempty"`
	// Encounter is the encounter during which the order was written.
	Encounter *Reference `json:"encounter,omitempty"`
	// AuthoredAt is when the order was written (FHIR
	// MedicationRequest.authoredOn), as precise as the source wrote it.
	AuthoredAt string `json:"authored_at,omitempty"`
	// Requester is who ordered the medication, usually a practitioner.
	Requester *Reference `json:"requester,omitempty"`
	// ReasonCodes are why the medication was ordered, as codes (a
	// condition in SNOMED CT or ICD-10-CM).
	ReasonCodes []CodeableConcept `json:"reason_codes,omitempty"`
	// DosageInstructions say how the medication is to be taken; several
	// when the dose changes over time (a taper).
	DosageInstructions []Dosage `json:"dosage_instructions,omitempty"`
	// Dispense is what the pharmacy may dispense: amount, refills and
	// days' supply.
	Dispense *Dispense `json:"dispense,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Dosage is how a medication is to be taken.
type Dosage struct {
	// Text is the instructions as the prescriber wrote them ("1 tablet by
	// mouth twice daily"), often the only complete rendering.
	Text string `json:"text,omitempty"`
	// AsNeeded is true when the medication is taken only as needed (PRN),
	// with or without a stated reason.
	AsNeeded bool `json:"as_needed,omitempty"`
	// Route is how the medication enters the body (oral, intravenous),
	// usually in SNOMED CT.
	Route *CodeableConcept `json:"route,omitempty"`
	// Dose is the amount per administration (1 tablet, 5 mL), from the
	// first FHIR doseAndRate.doseQuantity.
	Dose      *Quantity `json:"dose,omitempty"`
	Frequency int       `json:"frequency,omitempty"` // times per period
	// Period is the length of the period Frequency counts in, in
	// PeriodUnit: Frequency 2, Period 1, PeriodUnit d is twice a day.
	Period float64 `json:"period,omitempty"`
	// PeriodUnit is s | min | h | d | wk | mo | a (UCUM time units).
	PeriodUnit string `json:"period_unit,omitempty"`
}

// Dispense is what the pharmacy may dispense.
type Dispense struct {
	// Quantity is the amount to dispense per fill (30 tablets).
	Quantity *Quantity `json:"quantity,omitempty"`
	// Refills is how many times the order may be refilled after the first
	// dispense (FHIR numberOfRepeatsAllowed); absent when the source does
	// not say.
	Refills *int `json:"refills,omitempty"`
	// ExpectedSupplyDuration is how long one fill should last (the days'
	// supply), a quantity in a UCUM time unit ("30 d").
	ExpectedSupplyDuration *Quantity `json:"expected_supply_duration,omitempty"`
}

// Immunization is a vaccination given or reported (FHIR R4 Immunization).
type Immunization struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/immunizations/{id}.
	ID string `json:"id"`
	// Identifiers are business identifiers the source or other systems
	// assigned to the immunization.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Status      string       `json:"status,omitempty"` // completed | entered-in-error | not-done
	// StatusReason is why the vaccine was not given when Status is
	// not-done: IMMUNE, MEDPREC (medical precaution), OSTOCK (out of
	// stock), PATOBJ (patient objection) … from HL7 v3 ActReason.
	StatusReason *CodeableConcept `json:"status_reason,omitempty"`
	// VaccineCode is the vaccine, usually in CVX (and NDC).
	VaccineCode CodeableConcept `json:"vaccine_code"`
	// Patient is the patient who was vaccinated, or was to be.
	Patient *Reference `json:"patient,omitempty"`
	// Encounter is the encounter during which the vaccine was given.
	Encounter *Reference `json:"encounter,omitempty"`
	// OccurrenceAt is when the vaccine was given, a date or date-time as
	// precise as the source wrote it (FHIR occurrenceDateTime); absent when
	// the source gave only free text.
	OccurrenceAt string `json:"occurrence_at,omitempty"`
	// RecordedAt is when the immunization was first recorded in the
	// source, as precise as the source wrote it.
	RecordedAt string `json:"recorded_at,omitempty"`
	// PrimarySource is true when the record comes from whoever gave the
	// vaccine, false when someone else reported it (the patient, a
	// registry).
	PrimarySource *bool `json:"primary_source,omitempty"`
	// Location is where the vaccine was given.
	Location *Reference `json:"location,omitempty"`
	// LotNumber is the vaccine's lot number, as the source wrote it.
	LotNumber string `json:"lot_number,omitempty"`
	// ExpirationDate is when the vaccine lot expires, a date as precise as
	// the source wrote it.
	ExpirationDate string `json:"expiration_date,omitempty"`
	// Site is the body site of administration: LA (left arm), RA (right
	// arm) … from HL7 v3 ActSite.
	Site *CodeableConcept `json:"site,omitempty"`
	// Route is how the vaccine was given: IM (intramuscular), SQ
	// (subcutaneous), PO (oral), NASINHLC (nasal) … from HL7 v3
	// RouteOfAdministration.
	Route *CodeableConcept `json:"route,omitempty"`
	// DoseQuantity is the amount given (0.5 mL).
	DoseQuantity *Quantity `json:"dose_quantity,omitempty"`
	// Performers are who ordered or gave the vaccine, each listed once
	// whatever their role.
	Performers []Reference `json:"performers,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Procedure is an action performed on or for a patient (FHIR R4 Procedure).
type Procedure struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/procedures/{id}.
	ID string `json:"id"`
	// Identifiers are business identifiers the source or other systems
	// assigned to the procedure.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is preparation | in-progress | not-done | on-hold | stopped |
	// completed | entered-in-error | unknown.
	Status string `json:"status,omitempty"`
	// Category classifies the procedure (surgical, diagnostic, counselling
	// …), usually in SNOMED CT.
	Category *CodeableConcept `json:"category,omitempty"`
	// Code is the procedure, usually in SNOMED CT or CPT.
	Code CodeableConcept `json:"code"`
	// Patient is the patient the procedure was performed on (FHIR
	// Procedure.subject); absent when the subject is not a patient.
	Patient *Reference `json:"patient,omitempty"`
	// Encounter is the encounter during which the procedure was performed.
	Encounter *Reference `json:"encounter,omitempty"`
	// PerformedAt is a date-time; PerformedPeriod a span.
	PerformedAt string `json:"performed_at,omitempty"`
	// PerformedPeriod is when the procedure was performed, when the source
	// gives a span rather than a point in time.
	PerformedPeriod *Period `json:"performed_period,omitempty"`
	// Performers are who performed the procedure; their roles (surgeon,
	// anesthesiologist) are not kept.
	Performers []Reference `json:"performers,omitempty"`
	// Location is where the procedure was performed.
	Location *Reference `json:"location,omitempty"`
	// ReasonCodes are why the procedure was performed, as codes (SNOMED
	// CT, ICD-10-CM).
	ReasonCodes []CodeableConcept `json:"reason_codes,omitempty"`
	// BodySites are the anatomical sites of the procedure, usually in
	// SNOMED CT.
	BodySites []CodeableConcept `json:"body_sites,omitempty"`
	// Outcome is the result of the procedure (successful, unsuccessful,
	// partially successful), usually in SNOMED CT.
	Outcome *CodeableConcept `json:"outcome,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// DiagnosticReport is the findings of a set of tests: a lab panel, an
// imaging study, a pathology report (FHIR R4 DiagnosticReport).
type DiagnosticReport struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/diagnostic_reports/{id}.
	ID string `json:"id"`
	// Identifiers are the report's business identifiers, such as the
	// lab's accession number.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is registered | partial | preliminary | final | amended |
	// corrected | appended | cancelled | entered-in-error | unknown.
	Status     string            `json:"status,omitempty"`
	Categories []CodeableConcept `json:"categories,omitempty"` // LAB, RAD, … (HL7 v2 table 0074)
	// Code says what the report is, usually the LOINC code of the panel or
	// study (58410-2, CBC panel).
	Code CodeableConcept `json:"code"`
	// Patient is the patient the report is about (FHIR
	// DiagnosticReport.subject); absent when the subject is not a patient.
	Patient *Reference `json:"patient,omitempty"`
	// Encounter is the encounter during which the tests were ordered.
	Encounter *Reference `json:"encounter,omitempty"`
	// EffectiveAt is the clinically relevant time of the report, usually
	// when the specimen was collected, as precise as the source wrote it.
	EffectiveAt string `json:"effective_at,omitempty"`
	// EffectivePeriod is the clinically relevant time of the report, when
	// the source gives a span rather than a point in time.
	EffectivePeriod *Period `json:"effective_period,omitempty"`
	// IssuedAt is when this version of the report was released to
	// providers (FHIR DiagnosticReport.issued).
	IssuedAt string `json:"issued_at,omitempty"`
	// Performers are who is responsible for the report: the lab, the
	// reading radiologist …
	Performers []Reference `json:"performers,omitempty"`
	// Results are the observations the report is made of.
	Results []Reference `json:"results,omitempty"`
	// Conclusion is the report's clinical conclusion (its interpretation)
	// as text.
	Conclusion string `json:"conclusion,omitempty"`
	// ConclusionCodes are the conclusion as codes, usually SNOMED CT
	// findings.
	ConclusionCodes []CodeableConcept `json:"conclusion_codes,omitempty"`
	// PresentedForms describe the rendered report (PDF, text); fetch the
	// content through passthrough.
	PresentedForms []Attachment `json:"presented_forms,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Document is the metadata of a clinical document: a note, a discharge
// summary, a scanned form (FHIR R4 DocumentReference). The content itself is
// never inlined in the unified record; Contents say where to fetch it.
type Document struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/documents/{id}.
	ID string `json:"id"`
	// Identifiers are the document's identifiers; the one its author
	// assigned (FHIR masterIdentifier), when given, comes first.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Status      string       `json:"status,omitempty"`     // current | superseded | entered-in-error
	DocStatus   string       `json:"doc_status,omitempty"` // preliminary | final | amended | entered-in-error
	// Type is the kind of document, usually in LOINC.
	Type *CodeableConcept `json:"type,omitempty"`
	// Categories are broad kinds of document for filtering, such as US
	// Core's clinical-note.
	Categories []CodeableConcept `json:"categories,omitempty"`
	// Description is the source's human-readable description of the
	// document ("Discharge summary, cardiology"), what a document list
	// shows as its title.
	Description string `json:"description,omitempty"`
	// Patient is the patient the document is about (FHIR
	// DocumentReference.subject); absent when the subject is not a patient.
	Patient *Reference `json:"patient,omitempty"`
	// Date is when the document reference was created (FHIR
	// DocumentReference.date), as precise as the source wrote it.
	Date string `json:"date,omitempty"`
	// Authors are who wrote the document: practitioners, organizations,
	// the patient …
	Authors []Reference `json:"authors,omitempty"`
	// Custodian is the organization that maintains the document.
	Custodian *Reference `json:"custodian,omitempty"`
	// Contents are the document's renditions (a PDF, a CDA document), each
	// with where to fetch it.
	Contents []DocumentContent `json:"contents,omitempty"`
	// Encounters are the encounters the document belongs to (FHIR
	// DocumentReference.context.encounter).
	Encounters []Reference `json:"encounters,omitempty"`
	// Period is the time of the care the document covers (FHIR
	// DocumentReference.context.period).
	Period *Period `json:"period,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// DocumentContent is one rendition of a document.
type DocumentContent struct {
	// Attachment describes the rendition and where to fetch it.
	Attachment Attachment `json:"attachment"`
	// Format is the format or template the content follows, such as an IHE
	// format code ("urn:ihe:pcc:xphr:2007").
	Format *Coding `json:"format,omitempty"`
}

// Appointment is a booking of a patient with providers at a time (FHIR R4
// Appointment).
type Appointment struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/appointments/{id}.
	ID string `json:"id"`
	// Identifiers are business identifiers the source or other systems
	// assigned to the appointment.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	// Status is proposed | pending | booked | arrived | fulfilled |
	// cancelled | noshow | entered-in-error | checked-in | waitlist.
	Status string `json:"status,omitempty"`
	// CancelationReason is why the appointment was cancelled (by the
	// patient, by the provider …), with Status cancelled or noshow.
	CancelationReason *CodeableConcept `json:"cancelation_reason,omitempty"`
	// ServiceCategories are broad categories of the service to be
	// performed (general practice, dental …).
	ServiceCategories []CodeableConcept `json:"service_categories,omitempty"`
	// ServiceTypes are the specific services to be performed (a
	// consultation, a vaccination …).
	ServiceTypes []CodeableConcept `json:"service_types,omitempty"`
	// Specialties are the practitioner specialties the appointment needs
	// (cardiology, pediatrics …).
	Specialties []CodeableConcept `json:"specialties,omitempty"`
	// AppointmentType is the style of appointment: ROUTINE | WALKIN |
	// CHECKUP | FOLLOWUP | EMERGENCY (HL7 v2 table 0276).
	AppointmentType *CodeableConcept `json:"appointment_type,omitempty"`
	// ReasonCodes are why the appointment was made, as codes.
	ReasonCodes []CodeableConcept `json:"reason_codes,omitempty"`
	// Priority is 0 for undefined, else 1 (highest) to 9 (lowest), as in
	// iCalendar.
	Priority *int `json:"priority,omitempty"`
	// Description is the appointment's summary, the subject line a
	// calendar or list shows.
	Description string `json:"description,omitempty"`
	// Start is when the appointment begins, a date-time with time zone;
	// absent only while it is proposed, cancelled or waitlisted.
	Start string `json:"start,omitempty"`
	// End is when the appointment ends, a date-time with time zone; absent
	// when Start is.
	End string `json:"end,omitempty"`
	// MinutesDuration is the time the appointment takes in minutes, which
	// may be less than from Start to End.
	MinutesDuration *int `json:"minutes_duration,omitempty"`
	// CreatedAt is when the appointment was first booked or requested
	// (FHIR Appointment.created), as precise as the source wrote it.
	CreatedAt string `json:"created_at,omitempty"`
	// Patient is the participant that is a patient, lifted out of
	// Participants for convenience.
	Patient *Reference `json:"patient,omitempty"`
	// Participants are everyone and everything taking part (the patient,
	// practitioners, a location, a device), with whether each is required
	// and has accepted.
	Participants []AppointmentParticipant `json:"participants,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// AppointmentParticipant is a person, location or device taking part.
type AppointmentParticipant struct {
	// Actor is the participant (a patient, a practitioner, a location …);
	// absent when only a role is asked for (any pediatrician).
	Actor *Reference `json:"actor,omitempty"`
	// Types are the participant's roles: ATND (attender), PPRF (primary
	// performer), translator … from HL7 v3 ParticipationType and FHIR.
	Types    []CodeableConcept `json:"types,omitempty"`
	Required string            `json:"required,omitempty"` // required | optional | information-only
	Status   string            `json:"status,omitempty"`   // accepted | declined | tentative | needs-action
}

// Coverage is a patient's insurance or other payment arrangement (FHIR R4
// Coverage).
type Coverage struct {
	// ID is the source's logical id of the record: the {id} of
	// GET /v1/{connection_id}/coverages/{id}.
	ID string `json:"id"`
	// Identifiers are the coverage's business identifiers, such as the
	// policy or member number.
	Identifiers []Identifier `json:"identifiers,omitempty"`
	Status      string       `json:"status,omitempty"` // active | cancelled | draft | entered-in-error
	// Type is the kind of coverage (health insurance, Medicaid, self-pay
	// …), from HL7 v3 ActCode or the PHDSC source of payment typology.
	Type *CodeableConcept `json:"type,omitempty"`
	// Patient is the beneficiary: the person the coverage pays for.
	Patient *Reference `json:"patient,omitempty"`
	// Subscriber is the person who holds the policy: the patient or a
	// relative.
	Subscriber *Reference `json:"subscriber,omitempty"`
	// SubscriberID is the insurer's id for the subscriber, such as the
	// member id on the insurance card.
	SubscriberID string `json:"subscriber_id,omitempty"`
	// Dependent is the insurer's number for the patient as a dependent
	// under the policy ("01").
	Dependent string `json:"dependent,omitempty"`
	// Relationship is the patient's relationship to the subscriber: self |
	// spouse | child | parent | common | injured | other (system
	// http://terminology.hl7.org/CodeSystem/subscriber-relationship).
	Relationship *CodeableConcept `json:"relationship,omitempty"`
	// Period is when the coverage is in force; no end while it is.
	Period *Period `json:"period,omitempty"`
	// Payors are who pays under the coverage, usually the insurer; a payor
	// the source names only by identifier is left out.
	Payors []Reference `json:"payors,omitempty"`
	// Classes are the plan, group and similar levels of the coverage.
	Classes []CoverageClass `json:"classes,omitempty"`
	// Order is the coverage's rank among the patient's coverages for
	// billing: 1 for primary, 2 for secondary …
	Order *int `json:"order,omitempty"`
	// Network is the insurer's name for the provider network the coverage
	// applies to.
	Network string `json:"network,omitempty"`
	// UpdatedAt is when the source last changed the record (FHIR
	// meta.lastUpdated), as precise as the source wrote it; absent when the
	// source does not say.
	UpdatedAt string `json:"updated_at,omitempty"`
	// Source is the record's provenance: connection, source system, source
	// id and fetch time.
	Source Source `json:"source"`
	// Raw is the untouched source record, present only when the client asks
	// for it with raw=true.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// CoverageClass is one level of a coverage, such as its group or plan.
type CoverageClass struct {
	Type *CodeableConcept `json:"type,omitempty"` // group | plan | subplan | class | rxbin …
	// Value is the level's value as the insurer assigns it, such as the
	// group number or plan id.
	Value string `json:"value"`
	// Name is the level's human-readable name ("Acme Gold Plan").
	Name string `json:"name,omitempty"`
}
