package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// DecodeSettings decodes a connection's settings into dst strictly: an
// unknown field, a wrong JSON type or data after the object is an
// invalid_argument error on "settings", so a misspelt setting fails when
// Ferry loads its config instead of being silently ignored. Empty or null
// settings leave dst as it is (every default). The decoder's messages name
// fields and JSON types, never values.
func DecodeSettings(raw json.RawMessage, dst any) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return &Error{Code: CodeInvalidArgument, Param: "settings", Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &Error{Code: CodeInvalidArgument, Param: "settings", Err: errors.New("data after the settings object")}
	}
	return nil
}
