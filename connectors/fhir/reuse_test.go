package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/ferryhealth/ferry/unified"
)

// The decoding structs, slabs and buffers of a call are reused by the next
// call, which may be another tenant's (see reset.go and codec.go). These
// tests check that nothing of one record shows in the next, and that
// nothing of a call is left in the pool once it returns.

// decodingStructs is every mapping's decoding struct, by FHIR type.
var decodingStructs = map[string]resetter{
	"AllergyIntolerance": &fhirAllergyIntolerance{},
	"Appointment":        &fhirAppointment{},
	"Condition":          &fhirCondition{},
	"Coverage":           &fhirCoverage{},
	"DiagnosticReport":   &fhirDiagnosticReport{},
	"DocumentReference":  &fhirDocumentReference{},
	"Encounter":          &fhirEncounter{},
	"Immunization":       &fhirImmunization{},
	"Location":           &fhirLocation{},
	"MedicationRequest":  &fhirMedicationRequest{},
	"Observation":        &fhirObservation{},
	"Organization":       &fhirOrganization{},
	"Patient":            &fhirPatient{},
	"Practitioner":       &fhirPractitioner{},
	"Procedure":          &fhirProcedure{},
}

// TestResetEmptiesEveryField fills every field of every decoding struct,
// recursively, lists with elements past their length as a JSON object that
// names a list twice leaves them, and checks that reset leaves nothing:
// every string empty, every pointer nil, every list empty with every
// element of its array empty too.
func TestResetEmptiesEveryField(t *testing.T) {
	for _, m := range resourceMaps {
		if decodingStructs[m.fhirType] == nil {
			t.Errorf("no decoding struct listed for %s", m.fhirType)
		}
	}
	for typ, f := range decodingStructs {
		v := reflect.ValueOf(f).Elem()
		fill(v, 0)
		if where := dirt(v, typ); where == "" {
			t.Fatalf("%s: fill left the struct empty", typ)
		}
		f.reset()
		if where := dirt(v, typ); where != "" {
			t.Errorf("%s: reset left %s", typ, where)
		}
	}
}

// settable returns v, made settable even when it is an unexported field.
func settable(v reflect.Value) reflect.Value {
	if v.CanSet() || !v.CanAddr() {
		return v
	}
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// fill sets every field reachable from v to something that is not zero.
func fill(v reflect.Value, depth int) {
	v = settable(v)
	switch v.Kind() {
	case reflect.String:
		v.SetString("PHI")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Float64:
		v.SetFloat(7)
	case reflect.Uint8:
		v.SetUint('x')
	case reflect.Pointer:
		if depth > 6 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), depth+1)
		}
	case reflect.Slice:
		if depth > 6 {
			return
		}
		// Two elements and two more past the length.
		s := reflect.MakeSlice(v.Type(), 4, 4)
		for i := 0; i < 4; i++ {
			fill(s.Index(i), depth+1)
		}
		v.Set(s.Slice(0, 2))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}

var quantityType = reflect.TypeFor[fhirQuantity]()

// dirt returns where v holds something a reset should have emptied, or "".
// A list may keep its array, but every element of the array must be empty.
func dirt(v reflect.Value, path string) string {
	v = settable(v)
	switch v.Kind() {
	case reflect.Struct:
		isQuantity := v.Type() == quantityType
		if isQuantity && (*fhirQuantity)(v.Addr().UnsafePointer()).value() != nil {
			return path + ".Value"
		}
		for i := 0; i < v.NumField(); i++ {
			if name := v.Type().Field(i).Name; isQuantity && (name == "Value" || name == "slot") {
				// A reset quantity's Value points to its slot (see
				// fhirQuantity), which reads as no value.
				continue
			}
			if where := dirt(v.Field(i), path+"."+v.Type().Field(i).Name); where != "" {
				return where
			}
		}
		return ""
	case reflect.Slice:
		if v.Len() != 0 {
			return path + " (not empty)"
		}
		all := v.Slice(0, v.Cap())
		for i := 0; i < all.Len(); i++ {
			if where := dirt(all.Index(i), fmt.Sprintf("%s[%d] (past the length)", path, i)); where != "" {
				return where
			}
		}
		return ""
	default:
		if !v.IsZero() {
			return path
		}
		return ""
	}
}

// TestNoValueCrossesRecords maps rich records, then sparse ones, through the
// same codec, and checks that the sparse records are mapped exactly as a
// codec that never saw the rich ones maps them, and that the pool holds
// nothing of either once a call has returned.
func TestNoValueCrossesRecords(t *testing.T) {
	const marker = "LEAKED"
	// A holds a marker in every element the Observation mapping reads,
	// names its lists twice (the second time shorter, so elements are
	// left past the length) and has a value in every quantity.
	a := `{"resourceType":"Observation","id":"a","meta":{"lastUpdated":"LEAKED-1"},
		"identifier":[{"use":"LEAKED","system":"LEAKED","value":"LEAKED","type":{"coding":[{"system":"LEAKED","code":"LEAKED","display":"LEAKED"}],"text":"LEAKED"}},{"value":"LEAKED"}],
		"status":"LEAKED",
		"category":[{"coding":[{"system":"LEAKED","code":"LEAKED","display":"LEAKED"},{"code":"LEAKED","display":"LEAKED"}],"text":"LEAKED"},{"text":"LEAKED"}],
		"category":[{"coding":[{"code":"c"}]}],
		"code":{"coding":[{"system":"LEAKED","code":"LEAKED","display":"LEAKED"},{"system":"LEAKED","code":"LEAKED","display":"LEAKED"}],"coding":[{"code":"c"}],"text":"LEAKED"},
		"subject":{"reference":"Patient/LEAKED","display":"LEAKED"},"encounter":{"reference":"Encounter/LEAKED","display":"LEAKED"},
		"effectiveDateTime":"LEAKED","effectivePeriod":{"start":"LEAKED","end":"LEAKED"},"issued":"LEAKED",
		"performer":[{"reference":"Practitioner/LEAKED","display":"LEAKED"},{"display":"LEAKED"}],"performer":[{"display":"p"}],
		"valueQuantity":{"value":7.25,"comparator":"LEAKED","unit":"LEAKED","system":"LEAKED","code":"LEAKED"},
		"dataAbsentReason":{"text":"LEAKED"},"interpretation":[{"text":"LEAKED"},{"text":"LEAKED"}],"interpretation":[{"text":"i"}],
		"bodySite":{"text":"LEAKED"},"method":{"text":"LEAKED"},
		"referenceRange":[{"low":{"value":1.5,"unit":"LEAKED"},"high":{"value":9.5,"unit":"LEAKED"},"type":{"text":"LEAKED"},"appliesTo":[{"text":"LEAKED"}],"age":{"low":{"value":18},"high":{"value":99}},"text":"LEAKED"},
			{"low":{"value":2.5},"text":"LEAKED"}],
		"referenceRange":[{"text":"r"}],
		"hasMember":[{"reference":"Observation/LEAKED"}],"derivedFrom":[{"reference":"Observation/LEAKED"}],
		"component":[{"code":{"text":"LEAKED"},"valueQuantity":{"value":3.5,"unit":"LEAKED"},"interpretation":[{"text":"LEAKED"}],"referenceRange":[{"low":{"value":4.5},"text":"LEAKED"}]},
			{"code":{"text":"LEAKED"},"valueString":"LEAKED"}],
		"component":[{"code":{"text":"k"}}]}`
	// B has the same lists, longer than A's second ones, with nothing but
	// what a sparse record has: no display, no value, no unit.
	b := `{"resourceType":"Observation","id":"b","status":"final",
		"category":[{"coding":[{"code":"b1"},{"code":"b2"}]},{"coding":[{"code":"b3"}]}],
		"code":{"coding":[{"code":"b4"},{"code":"b5"}]},
		"performer":[{"reference":"Practitioner/b"},{"reference":"Practitioner/c"}],
		"interpretation":[{"coding":[{"code":"N"}]},{"coding":[{"code":"L"}]}],
		"referenceRange":[{"low":{"unit":"mg"},"high":{"unit":"mg"},"age":{"low":{"unit":"a"}}},{"high":{"unit":"mg"}}],
		"component":[{"code":{"coding":[{"code":"b6"}]},"valueQuantity":{"unit":"mg"},"referenceRange":[{"low":{"unit":"mg"}}]},{"code":{"coding":[{"code":"b7"}]},"valueQuantity":{"code":"mg"}}]}`
	if !json.Valid([]byte(a)) || !json.Valid([]byte(b)) {
		t.Fatal("test records are not JSON")
	}
	bundle := func(rs ...string) []byte {
		entries := make([]string, len(rs))
		for i, r := range rs {
			entries[i] = `{"resource":` + r + `}`
		}
		return []byte(bundleJSON("", "", -1, entries...))
	}
	// A Bundle that the one-pass decoding fails on (a Patient whose
	// "code" is not a CodeableConcept), so entries are decoded one by one.
	mixed := func(rs ...string) []byte {
		return bundle(append([]string{`{"resourceType":"Patient","code":1}`}, rs...)...)
	}
	src := unified.Source{ConnectionID: "c1", System: system}

	type call func(c *codec[fhirObservation, unified.Observation, *fhirObservation]) ([]json.RawMessage, error)
	read := func(body string, raw bool) call {
		return func(c *codec[fhirObservation, unified.Observation, *fhirObservation]) ([]json.RawMessage, error) {
			rec, err := c.record([]byte(body), src, raw, false)
			return []json.RawMessage{rec}, err
		}
	}
	page := func(body []byte, raw bool) call {
		return func(c *codec[fhirObservation, unified.Observation, *fhirObservation]) ([]json.RawMessage, error) {
			recs, _, err := c.page(body, src, raw)
			return recs, err
		}
	}
	for _, tc := range []struct {
		name string
		a, b call
	}{
		{"read", read(a, false), read(b, false)},
		{"read raw", read(a, true), read(b, false)},
		{"page", page(bundle(a, a, b), false), page(bundle(b, b, b), false)},
		{"page raw", page(bundle(a, a), true), page(bundle(b, b), true)},
		{"page entry by entry", page(mixed(a, a), false), page(mixed(b, b, b), false)},
		{"read after page", page(bundle(a, a, a), false), read(b, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := tc.b(newCodec[fhirObservation, unified.Observation]("Observation"))
			if err != nil {
				t.Fatal(err)
			}
			c := newCodec[fhirObservation, unified.Observation]("Observation")
			for range 3 {
				if _, err := tc.a(c); err != nil {
					t.Fatal(err)
				}
				checkPoolClean(t, c, marker)
				got, err := tc.b(c)
				if err != nil {
					t.Fatal(err)
				}
				checkPoolClean(t, c, marker)
				if len(got) != len(want) {
					t.Fatalf("%d records after the rich ones, want %d", len(got), len(want))
				}
				for i := range got {
					if !bytes.Equal(got[i], want[i]) || bytes.Contains(got[i], []byte(marker)) {
						t.Fatalf("record %d after the rich ones:\n%s\nwant\n%s", i, got[i], want[i])
					}
				}
			}
		})
	}
}

// checkPoolClean takes the state a call put back in c's pool, and fails
// if anything reachable from it, to the end of every array, holds marker
// or a number of the rich record.
func checkPoolClean[F any, U any, PF interface {
	*F
	fhirResource[U]
}](t *testing.T, c *codec[F, U, PF], marker string) {
	t.Helper()
	st, ok := c.pool.Get().(*codecState[F, U])
	if !ok {
		return // the pool dropped it (the race detector's doing)
	}
	defer c.pool.Put(st)
	seen := map[uintptr]bool{}
	if where := holds(reflect.ValueOf(st).Elem(), marker, "state", seen); where != "" {
		t.Fatalf("after the call, the pool holds a value of the record at %s", where)
	}
}

// holds returns where v, or anything reachable from it, holds marker (or
// one of the rich record's quantities), or "".
func holds(v reflect.Value, marker, path string, seen map[uintptr]bool) string {
	v = settable(v)
	switch v.Kind() {
	case reflect.String:
		if strings.Contains(v.String(), marker) {
			return path
		}
	case reflect.Float64:
		switch f := v.Float(); f {
		case 7.25, 1.5, 9.5, 2.5, 3.5, 4.5, 18, 99:
			return fmt.Sprintf("%s (%v)", path, f)
		}
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ""
		}
		if v.Kind() == reflect.Pointer {
			if seen[v.Pointer()] {
				return ""
			}
			seen[v.Pointer()] = true
		}
		return holds(v.Elem(), marker, path, seen)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if where := holds(v.Field(i), marker, path+"."+v.Type().Field(i).Name, seen); where != "" {
				return where
			}
		}
	case reflect.Slice:
		if v.Cap() == 0 {
			return ""
		}
		all := v.Slice(0, v.Cap())
		if all.Type().Elem().Kind() == reflect.Uint8 {
			if bytes.Contains(all.Bytes(), []byte(marker)) {
				return path
			}
			return ""
		}
		for i := 0; i < all.Len(); i++ {
			if where := holds(all.Index(i), marker, fmt.Sprintf("%s[%d]", path, i), seen); where != "" {
				return where
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if where := holds(it.Value(), marker, path+"[]", seen); where != "" {
				return where
			}
		}
	}
	return ""
}

// TestMapperClearEmptiesEverySlab fills every slab of a mapper and checks
// that clear empties them all, to the end of their arrays.
func TestMapperClearEmptiesEverySlab(t *testing.T) {
	var m mapper
	v := reflect.ValueOf(&m).Elem()
	for i := 0; i < v.NumField(); i++ {
		items := settable(v.Field(i)).Field(0)
		s := reflect.MakeSlice(items.Type(), 3, 3)
		for j := 0; j < 3; j++ {
			fill(s.Index(j), 0)
		}
		settable(items).Set(s)
	}
	m.clear()
	if where := dirt(v, "mapper"); where != "" {
		t.Errorf("clear left %s", where)
	}
}
