package unified

// The datatypes below are shared by the resources. They follow FHIR R4's
// datatypes of the same name, flattened where FHIR nests for extensibility
// only. Dates and date-times stay strings, exactly as precise as the source
// wrote them ("2024", "2024-03", "2024-03-07T10:15:00-05:00"): turning a
// year into a midnight timestamp would invent precision.

// CodeableConcept is a concept given by one or more codings (the same idea in
// several code systems) and/or text.
type CodeableConcept struct {
	// Codings are the codes of the concept, possibly in several systems (a
	// LOINC code and a local one for the same test); absent when the source
	// gave only text.
	Codings []Coding `json:"codings,omitempty"`
	// Text is the concept in words as the source's user entered or saw it;
	// the best thing to display when no coding is recognised. Absent when
	// the source gave none.
	Text string `json:"text,omitempty"`
}

// Reference points at another record of the same connection. Resource and ID
// are set when the target is a unified resource held by the source (a
// relative FHIR reference such as "Patient/123"), so the client can read it
// with GET /v1/{connection_id}/{resource}/{id}. A reference Ferry cannot
// follow (absolute, contained, logical) keeps only its display text.
type Reference struct {
	// Resource is the unified resource type of the target, set together
	// with ID; absent when Ferry cannot follow the reference.
	Resource ResourceType `json:"resource,omitempty"`
	// ID is the target's id on the same connection, the {id} of
	// GET /v1/{connection_id}/{resource}/{id}; absent when Ferry cannot
	// follow the reference.
	ID string `json:"id,omitempty"`
	// Display is the source's text for the target ("Dr. Jane Smith"); for
	// a reference Ferry cannot follow, all that is kept of it.
	Display string `json:"display,omitempty"`
}

// Period is a time span; either end may be open.
type Period struct {
	// Start is when the span begins, a date or date-time as precise as the
	// source wrote it; absent when unknown.
	Start string `json:"start,omitempty"`
	// End is when the span ends, a date or date-time as precise as the
	// source wrote it; absent when the span is ongoing or its end unknown.
	End string `json:"end,omitempty"`
}

// Quantity is a measured amount. When the source uses UCUM, System is
// SystemUCUM and Code the UCUM unit code ("mm[Hg]", "kg/m2"); Unit is the
// human-readable unit as the source wrote it.
type Quantity struct {
	// Value is the number; absent when the source gave a unit without one.
	Value *float64 `json:"value,omitempty"`
	// Comparator qualifies the value: < | <= | >= | > (a result "<5").
	Comparator string `json:"comparator,omitempty"`
	// Unit is the unit as the source displays it ("mmHg", "beats/min");
	// it may differ from Code.
	Unit string `json:"unit,omitempty"`
	// System is the URI of the system Code is from, SystemUCUM for UCUM; a
	// recognised system sent under an alias is written as its canonical
	// URI.
	System string `json:"system,omitempty"`
	// Code is the unit in coded form; for UCUM, the case-sensitive UCUM
	// code ("mm[Hg]", "/min", "kg/m2").
	Code string `json:"code,omitempty"`
}

// Range is a low and high bound, either of which may be missing.
type Range struct {
	// Low is the lower bound, inclusive; absent when there is none.
	Low *Quantity `json:"low,omitempty"`
	// High is the upper bound, inclusive; absent when there is none.
	High *Quantity `json:"high,omitempty"`
}

// Ratio is a numerator over a denominator (a titer 1:128, a dose per kg).
type Ratio struct {
	// Numerator is the quantity above the line (1 in a titer of 1:128).
	Numerator *Quantity `json:"numerator,omitempty"`
	// Denominator is the quantity below the line (128 in a titer of
	// 1:128, 1 kg in a dose per kg).
	Denominator *Quantity `json:"denominator,omitempty"`
}

// Attachment describes content held by the source (a PDF, a note, an image)
// without the content itself: Ferry's API carries metadata, and the bytes are
// fetched through passthrough.
type Attachment struct {
	// ContentType is the MIME type of the content, with any parameters
	// ("application/pdf", "text/plain; charset=utf-8").
	ContentType string `json:"content_type,omitempty"`
	// Language is the human language of the content, a BCP 47 tag ("en",
	// "es-MX").
	Language string `json:"language,omitempty"`
	// Title is the label the source shows for the content ("Discharge
	// summary").
	Title string `json:"title,omitempty"`
	// Size is the content's length in bytes, when the source says.
	Size *int64 `json:"size,omitempty"`
	// Hash is the base64 SHA-1 the source gives, to check fetched bytes.
	Hash string `json:"hash,omitempty"`
	// Creation is when the content was first created, a date or date-time
	// as precise as the source wrote it.
	Creation string `json:"creation,omitempty"`
	// PassthroughPath is the content's path relative to the connection
	// ("Binary/123"); fetch the bytes with
	// GET /v1/{connection_id}/passthrough/{passthrough_path}.
	// Absent when the source gave no relative URL for the content.
	PassthroughPath string `json:"passthrough_path,omitempty"`
	// Inline is true when the source embeds the content in the record
	// itself; read the record with raw=true or through passthrough to get it.
	Inline bool `json:"inline,omitempty"`
	// Data is the content itself, base64, on a write only: the note's text
	// or the file a document is created with. Reads never fill it (they
	// say Inline, and the bytes are fetched apart).
	// A string, not bytes, so that Attachment stays comparable; the host
	// checks it is standard base64.
	Data string `json:"data,omitempty"`
}

// Value is a choice of one typed value, as FHIR's value[x]: Type names the
// field that is set. An observation's value is a quantity for most vital
// signs and labs, a concept for a coded result ("positive"), a string for a
// free-text one.
type Value struct {
	// Type is quantity | codeable_concept | string | boolean | integer |
	// range | ratio | date_time | time | period.
	Type string `json:"type"`
	// Quantity is set when Type is "quantity": a measured amount, as most
	// vital signs and numeric lab results are.
	Quantity *Quantity `json:"quantity,omitempty"`
	// Concept is set when Type is "codeable_concept": a coded result
	// ("positive", a SNOMED CT finding).
	Concept *CodeableConcept `json:"codeable_concept,omitempty"`
	// String is set when Type is "string": a free-text result.
	String *string `json:"string,omitempty"`
	// Boolean is set when Type is "boolean".
	Boolean *bool `json:"boolean,omitempty"`
	// Integer is set when Type is "integer": a count or score without a
	// unit.
	Integer *int64 `json:"integer,omitempty"`
	// Range is set when Type is "range": a result given as low and high
	// bounds.
	Range *Range `json:"range,omitempty"`
	// Ratio is set when Type is "ratio": a result such as a titer (1:128).
	Ratio *Ratio `json:"ratio,omitempty"`
	// DateTime is set when Type is "date_time": a date or date-time as
	// precise as the source wrote it.
	DateTime string `json:"date_time,omitempty"`
	// Time is set when Type is "time": a time of day, hh:mm:ss.
	Time string `json:"time,omitempty"`
	// Period is set when Type is "period": a result that is a time span.
	Period *Period `json:"period,omitempty"`
}

// The Value types.
const (
	ValueQuantity        = "quantity"
	ValueCodeableConcept = "codeable_concept"
	ValueString          = "string"
	ValueBoolean         = "boolean"
	ValueInteger         = "integer"
	ValueRange           = "range"
	ValueRatio           = "ratio"
	ValueDateTime        = "date_time"
	ValueTime            = "time"
	ValuePeriod          = "period"
)
