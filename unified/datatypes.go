package unified

// The datatypes below are shared by the resources. They follow FHIR R4's
// datatypes of the same name, flattened where FHIR nests for extensibility
// only. Dates and date-times stay strings, exactly as precise as the source
// wrote them ("2024", "2024-03", "2024-03-07T10:15:00-05:00"): turning a
// year into a midnight timestamp would invent precision.

// CodeableConcept is a concept given by one or more codings (the same idea in
// several code systems) and/or text.
type CodeableConcept struct {
	Codings []Coding `json:"codings,omitempty"`
	Text    string   `json:"text,omitempty"`
}

// Reference points at another record of the same connection. Resource and ID
// are set when the target is a unified resource held by the source (a
// relative FHIR reference such as "Patient/123"), so the client can read it
// with GET /v1/{connection_id}/{resource}/{id}. A reference Ferry cannot
// follow (absolute, contained, logical) keeps only its display text.
type Reference struct {
	Resource ResourceType `json:"resource,omitempty"`
	ID       string       `json:"id,omitempty"`
	Display  string       `json:"display,omitempty"`
}

// Period is a time span; either end may be open.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Quantity is a measured amount. When the source uses UCUM, System is
// SystemUCUM and Code the UCUM unit code ("mm[Hg]", "kg/m2"); Unit is the
// human-readable unit as the source wrote it.
type Quantity struct {
	Value *float64 `json:"value,omitempty"`
	// Comparator qualifies the value: < | <= | >= | > (a result "<5").
	Comparator string `json:"comparator,omitempty"`
	Unit       string `json:"unit,omitempty"`
	System     string `json:"system,omitempty"`
	Code       string `json:"code,omitempty"`
}

// Range is a low and high bound, either of which may be missing.
type Range struct {
	Low  *Quantity `json:"low,omitempty"`
	High *Quantity `json:"high,omitempty"`
}

// Ratio is a numerator over a denominator (a titer 1:128, a dose per kg).
type Ratio struct {
	Numerator   *Quantity `json:"numerator,omitempty"`
	Denominator *Quantity `json:"denominator,omitempty"`
}

// Attachment describes content held by the source (a PDF, a note, an image)
// without the content itself: Ferry's API carries metadata, and the bytes are
// fetched through passthrough.
type Attachment struct {
	ContentType string `json:"content_type,omitempty"`
	Language    string `json:"language,omitempty"`
	Title       string `json:"title,omitempty"`
	// Size is the content's length in bytes, when the source says.
	Size *int64 `json:"size,omitempty"`
	// Hash is the base64 SHA-1 the source gives, to check fetched bytes.
	Hash     string `json:"hash,omitempty"`
	Creation string `json:"creation,omitempty"`
	// PassthroughPath is the path, relative to the connection, from which
	// the content can be fetched with GET /v1/{connection_id}/passthrough/
	// {passthrough_path}. Empty when the source gave no relative URL.
	PassthroughPath string `json:"passthrough_path,omitempty"`
	// Inline is true when the source embeds the content in the record
	// itself; read the record with raw=true or through passthrough to get it.
	Inline bool `json:"inline,omitempty"`
}

// Value is a choice of one typed value, as FHIR's value[x]: Type names the
// field that is set. An observation's value is a quantity for most vital
// signs and labs, a concept for a coded result ("positive"), a string for a
// free-text one.
type Value struct {
	// Type is quantity | codeable_concept | string | boolean | integer |
	// range | ratio | date_time | time | period.
	Type     string           `json:"type"`
	Quantity *Quantity        `json:"quantity,omitempty"`
	Concept  *CodeableConcept `json:"codeable_concept,omitempty"`
	String   *string          `json:"string,omitempty"`
	Boolean  *bool            `json:"boolean,omitempty"`
	Integer  *int64           `json:"integer,omitempty"`
	Range    *Range           `json:"range,omitempty"`
	Ratio    *Ratio           `json:"ratio,omitempty"`
	DateTime string           `json:"date_time,omitempty"`
	Time     string           `json:"time,omitempty"`
	Period   *Period          `json:"period,omitempty"`
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
