package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

const unifiedPath = "github.com/ferryhealth/ferry/unified"

// rawDescription describes a json.RawMessage field that has no doc comment
// of its own: in package unified, that is always the source record.
const rawDescription = "The untouched source record, present only when the client asks for it with raw=true."

var (
	typeTime = reflect.TypeFor[time.Time]()
	typeRaw  = reflect.TypeFor[json.RawMessage]()
)

// schemas turns Go types of package unified into component schemas.
type schemas struct {
	docs *pkgDocs
	out  map[string]*schema
	// enums are the values of named string types that are not taken from
	// constant declarations.
	enums map[string][]string
	// undocumented holds the types ("Patient") and fields ("Patient.ID")
	// without a doc comment.
	undocumented map[string]bool
}

func newSchemas(d *pkgDocs) *schemas {
	codes := unified.Codes()
	slices.Sort(codes)
	var types []string
	for _, r := range unified.ResourceTypes() {
		types = append(types, string(r))
	}
	return &schemas{
		docs:         d,
		out:          map[string]*schema{},
		undocumented: map[string]bool{},
		enums: map[string][]string{
			"Code":         stringsOf(codes),
			"ResourceType": types,
		},
	}
}

func stringsOf[S ~string](in []S) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

// typeName is a unified type's name without type arguments (List).
func typeName(t reflect.Type) string {
	name, _, _ := strings.Cut(t.Name(), "[")
	return name
}

// of returns the schema of a value of type t, adding the components it
// needs.
func (s *schemas) of(t reflect.Type) (*schema, error) {
	switch {
	case t == typeTime:
		return &schema{Type: "string", Format: "date-time"}, nil
	case t == typeRaw:
		return &schema{}, nil
	case t.Kind() == reflect.Pointer:
		// An absent value is an omitted field, never null: every pointer
		// field is omitempty (checked in object).
		return s.of(t.Elem())
	case t.Kind() == reflect.Slice:
		items, err := s.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return &schema{Type: "array", Items: items}, nil
	case t.PkgPath() == unifiedPath && (t.Kind() == reflect.Struct || t.Kind() == reflect.String):
		name := typeName(t)
		if _, done := s.out[name]; !done {
			s.out[name] = nil // placeholder against cycles
			var (
				c   *schema
				err error
			)
			if t.Kind() == reflect.Struct {
				c, err = s.object(t)
			} else {
				c, err = s.enum(t)
			}
			if err != nil {
				return nil, err
			}
			s.out[name] = c
		}
		return &schema{Ref: ref("schemas", name)}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return &schema{Type: "string"}, nil
	case reflect.Bool:
		return &schema{Type: "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return &schema{Type: "integer"}, nil
	case reflect.Int64, reflect.Uint, reflect.Uint64:
		return &schema{Type: "integer", Format: "int64"}, nil
	case reflect.Float32, reflect.Float64:
		return &schema{Type: "number"}, nil
	}
	return nil, fmt.Errorf("openapi: no schema for Go type %s: extend proxy/openapi", t)
}

// typeDoc returns the description of a unified type, noting it if absent.
func (s *schemas) typeDoc(t reflect.Type, jsonNames map[string]string) string {
	name := typeName(t)
	d := s.docs.rename(prose(s.docs.types[name]), jsonNames, name)
	if d == "" {
		s.undocumented[name] = true
	}
	return d
}

// object is the schema of a unified struct: its JSON fields, required
// unless omitempty.
func (s *schemas) object(t reflect.Type) (*schema, error) {
	type field struct {
		goName, jsonName string
		omitempty        bool
		typ              reflect.Type
	}
	var fields []field
	jsonNames := map[string]string{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous || strings.Contains(","+opts+",", ",string,") {
			return nil, fmt.Errorf("openapi: %s.%s: embedded fields and the json string option are not supported: extend proxy/openapi", t.Name(), f.Name)
		}
		if name == "" {
			name = f.Name
		}
		omitempty := strings.Contains(","+opts+",", ",omitempty,")
		if f.Type.Kind() == reflect.Pointer && !omitempty {
			return nil, fmt.Errorf("openapi: %s.%s: a pointer without omitempty would be null, which the document does not allow", t.Name(), f.Name)
		}
		fields = append(fields, field{f.Name, name, omitempty, f.Type})
		jsonNames[f.Name] = name
	}
	o := &schema{Type: "object", Description: s.typeDoc(t, jsonNames), Properties: map[string]*schema{}}
	for _, f := range fields {
		p, err := s.of(f.typ)
		if err != nil {
			return nil, err
		}
		p.Description = s.docs.rename(s.docs.fields[typeName(t)][f.goName], jsonNames, "")
		if p.Description == "" && f.typ == typeRaw {
			p.Description = rawDescription
		}
		if p.Description == "" {
			s.undocumented[typeName(t)+"."+f.goName] = true
		}
		o.Properties[f.jsonName] = p
		o.order = append(o.order, f.jsonName)
		if !f.omitempty {
			o.Required = append(o.Required, f.jsonName)
		}
	}
	return o, nil
}

// enum is the schema of a named string type of package unified: its
// values are given by a function of the package or by its constants.
func (s *schemas) enum(t reflect.Type) (*schema, error) {
	name := typeName(t)
	values, ok := s.enums[name]
	if !ok {
		values = s.docs.enums[name]
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("openapi: %s has no known values", name)
	}
	e := &schema{Type: "string", Description: s.typeDoc(t, nil), Enum: values}
	if name == "Code" {
		var b strings.Builder
		for _, v := range values {
			c := unified.Code(v)
			fmt.Fprintf(&b, "\n- `%s` (%d): %s", c, c.Status(), c.Title())
			if c.Retryable() {
				b.WriteString(" Retryable.")
			}
		}
		e.Description += "\n" + b.String()
	}
	return e, nil
}

// list is the schema of unified.List[T] for the records of item, as the
// component <item>List.
func (s *schemas) list(item reflect.Type) (string, error) {
	return s.envelope(item, reflect.TypeFor[unified.List[json.RawMessage]](), "List", "A page of %s records. ")
}

// changes is the schema of a change poll's answer of item records.
func (s *schemas) changes(item reflect.Type) (string, error) {
	return s.envelope(item, reflect.TypeFor[unified.Changes[json.RawMessage]](), "Changes", "The changed %s records of one poll. ")
}

// envelope names and records the schema of env, a generic envelope with a
// data array, holding item records.
func (s *schemas) envelope(item, env reflect.Type, suffix, intro string) (string, error) {
	itemRef, err := s.of(item)
	if err != nil {
		return "", err
	}
	// Type arguments do not change the envelope: take its fields from any
	// instantiation, and the items from item.
	sc, err := s.object(env)
	if err != nil {
		return "", err
	}
	data := sc.Properties["data"]
	if data == nil || data.Type != "array" {
		return "", fmt.Errorf("openapi: %s has no data array", env)
	}
	data.Items = itemRef
	name := typeName(item) + suffix
	sc.Description = fmt.Sprintf(intro, typeName(item)) + sc.Description
	s.out[name] = sc
	return name, nil
}
