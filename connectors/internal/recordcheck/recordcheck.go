// Package recordcheck checks that what a connector returns is a unified
// record the host can serve: sdktest applies it to every record of an
// in-process call, the conformance kit to every record a plugin returns.
package recordcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/ferryhealth/ferry/unified"
)

// Record checks one record of resource r returned on connection
// connectionID: a JSON object that decodes into r's Go type with no unknown
// field, with an id the host accepts in a path (so it can be read back), a
// source block naming the connection, its system and a fetch time, and a
// raw field only when raw was asked for. The error names the problem, never
// a value of the record.
func Record(r unified.ResourceType, connectionID string, raw bool, rec []byte) error {
	typ := r.GoType()
	if typ == nil {
		return fmt.Errorf("%s is not a unified resource", r)
	}
	trimmed := bytes.TrimSpace(rec)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	v := reflect.New(typ)
	if err := dec.Decode(v.Interface()); err != nil {
		return fmt.Errorf("does not decode as unified %s: %s", r, describe(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	s := v.Elem()
	id := s.FieldByName("ID").String()
	switch {
	case id == "":
		return errors.New("no id")
	case !unified.ValidID(id):
		return errors.New("id cannot be read back: ids are 1-64 of [A-Za-z0-9.-]")
	}
	src, _ := s.FieldByName("Source").Interface().(unified.Source)
	switch {
	case src.ConnectionID != connectionID:
		return errors.New("source.connection_id is not the request's connection")
	case src.System == "":
		return errors.New("source.system is empty")
	case src.FetchedAt.IsZero():
		return errors.New("source.fetched_at is missing")
	}
	if rawField := s.FieldByName("Raw"); rawField.IsValid() && rawField.Len() > 0 && !raw {
		return errors.New("raw is set though the request did not ask for it")
	}
	return nil
}

// describe keeps a decoding error's structure (field, type) and drops any
// value it might quote.
func describe(err error) string {
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &ute):
		return fmt.Sprintf("field %s: a JSON %s where %s was expected", ute.Field, ute.Value, ute.Type)
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	// encoding/json names an unknown field as `json: unknown field "x"`:
	// the field's name, not a value.
	return err.Error()
}
