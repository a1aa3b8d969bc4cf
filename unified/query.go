package unified

// MaxLimit is the largest page a client may ask for.
const MaxLimit = 200

// DefaultLimit is the page size when the client names none.
const DefaultLimit = 50

// PatientQuery is a search for patients. Every field is optional; a
// connector's manifest says which it supports and which it requires.
type PatientQuery struct {
	Name       string `json:"name,omitempty"`       // any part of any name, prefix match as the source does it
	BirthDate  string `json:"birth_date,omitempty"` // YYYY-MM-DD
	Identifier string `json:"identifier,omitempty"` // "value" or "system|value"
}

// List is the envelope of a search answer.
type List[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}
