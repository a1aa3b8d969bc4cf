package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/unified"
)

// exampleSetDir is where the official FHIR R4 examples live, relative to
// the repository root (copied unchanged from the shared test data, with
// their licence in its NOTICE.md).
const exampleSetDir = "testdata/fhir-r4-examples"

// invalidExamples are official examples of a mapped type that are not
// valid FHIR in a way the mapping rightly refuses, each with the reason.
// Every other example of a mapped type must map.
var invalidExamples = map[string]string{}

// exampleResource is one resource of the example set: a whole file, or an
// entry of a Bundle example.
type exampleResource struct {
	name string // file name, then "#entry[i]" for each level of Bundle
	body []byte
	typ  string
	id   string
}

// TestExampleSet feeds every file of the official FHIR R4 example set, and
// every entry of its Bundles, to every registered mapping, as a read and as
// a searchset entry: each answer is either a record that decodes as the
// mapping's unified type with its id and source set, or an upstream error
// (an entry of another type in a Bundle may be skipped). Every example of a
// mapped type must map. The Bundles are then fed to every mapping's page
// function as searchsets.
//
// Run it alone with
// go test ./connectors/fhir -run TestExampleSet
func TestExampleSet(t *testing.T) {
	dir := exampleSet(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("%s holds %d examples; is the shared test data complete?", dir, len(files))
	}
	var all []exampleResource
	var pages []examplePage
	var everything []string // every example of a mapped type, as searchset entries
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		r := newExample(filepath.Base(file), body)
		all = append(all, r)
		if _, mapped := unified.FromFHIRType(r.typ); mapped {
			everything = append(everything, `{"resource":`+string(body)+`}`)
		}
		if r.typ == "Bundle" {
			pages = append(pages, newExamplePage(t, r))
			all = append(all, bundleEntries(t, r)...)
		}
	}
	if len(pages) == 0 {
		t.Fatal("the example set holds no Bundle")
	}
	// Every example of a mapped type, as one searchset.
	pages = append(pages, newExamplePage(t, newExample("every mapped example", []byte(bundleJSON("", "", -1, everything...)))))

	for _, resource := range mappedResources() {
		m := resourceMaps[resource]
		t.Run(string(resource), func(t *testing.T) {
			// The mappings share nothing but read-only tables.
			t.Parallel()
			ofType, mapped := 0, 0
			for _, ex := range all {
				ok := checkExample(t, m, ex)
				if ex.typ != m.fhirType {
					continue
				}
				ofType++
				if ok {
					mapped++
				} else if reason, known := invalidExamples[ex.name]; known {
					t.Logf("%s is a known invalid example: %s", ex.name, reason)
					mapped++
				}
			}
			if mapped != ofType {
				t.Errorf("%d of %d %s examples map", mapped, ofType, m.fhirType)
			}
			for name := range invalidExamples {
				if strings.HasPrefix(name, m.fhirType+"-") && slices.IndexFunc(all, func(e exampleResource) bool { return e.name == name }) < 0 {
					t.Errorf("invalidExamples names %s, which is not in the set", name)
				}
			}
			t.Logf("%d %s examples", ofType, m.fhirType)

			for _, p := range pages {
				checkExamplePage(t, m, p)
			}
		})
	}
}

// exampleSet returns the example set's directory, or fails the test.
func exampleSet(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, filepath.FromSlash(exampleSetDir))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the FHIR R4 example set is missing: %s must hold the shared test data (testdata/fhir-r4-examples at the repository root): %v", dir, err)
	}
	return dir
}

// repoRoot returns the repository's root: the nearest directory above the
// working directory (which `go test` sets to the package's) whose go.mod is
// the host module's. The SDK is a module of its own below it, and the shared
// test data lives at the root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/ferryhealth/ferry\n")) {
			return dir, nil
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module github.com/ferryhealth/ferry above the working directory")
		}
		dir = parent
	}
}

// mappedResources returns the registered resources in a fixed order.
func mappedResources() []unified.ResourceType {
	out := make([]unified.ResourceType, 0, len(resourceMaps))
	for r := range resourceMaps {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func newExample(name string, body []byte) exampleResource {
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	_ = json.Unmarshal(body, &head)
	return exampleResource{name: name, body: body, typ: head.ResourceType, id: head.ID}
}

// bundleEntries returns the resources of a Bundle's entries, and of the
// Bundles among them, depth first.
func bundleEntries(t *testing.T, b exampleResource) []exampleResource {
	t.Helper()
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b.body, &bundle); err != nil {
		t.Fatalf("%s: %v", b.name, err)
	}
	var out []exampleResource
	for i, e := range bundle.Entry {
		if len(e.Resource) == 0 {
			continue // a batch request or a response without a resource
		}
		r := newExample(fmt.Sprintf("%s#entry[%d]", b.name, i), e.Resource)
		out = append(out, r)
		if r.typ == "Bundle" {
			out = append(out, bundleEntries(t, r)...)
		}
	}
	return out
}

// checkExample maps ex with m as a read and as a searchset entry, with and
// without raw, and reports whether every one of them gave a record.
func checkExample(t *testing.T, m *resourceMap, ex exampleResource) (ok bool) {
	t.Helper()
	ok = true
	// A read asks for an id; an example without one is read as if asked
	// for "example-no-id", which the mapping then answers under.
	id := ex.id
	if id == "" || !unified.ValidID(id) {
		id = "example-no-id"
	}
	src := unified.Source{ConnectionID: "c-examples", System: system, SourceID: id}
	for _, inBundle := range []bool{false, true} {
		for _, raw := range []bool{false, true} {
			if raw && ex.typ != m.fhirType {
				continue // raw changes nothing before the type is checked
			}
			how := fmt.Sprintf("%s as %s (inBundle %v, raw %v)", ex.name, m.resource, inBundle, raw)
			rec, err := mapSafely(m, ex.body, src, raw, inBundle)
			if err != nil {
				ok = false
				if inBundle && errors.Is(err, errOtherType) {
					if ex.typ == m.fhirType {
						t.Errorf("%s: an entry of the mapping's own type is skipped", how)
					}
					continue
				}
				var ce *connectors.Error
				if !errors.As(err, &ce) || ce.Code != connectors.CodeUpstream {
					t.Errorf("%s: error %v (%T) is not an upstream error", how, err, err)
				} else if ex.typ == m.fhirType {
					t.Errorf("%s: %v", how, err)
				}
				continue
			}
			if ex.typ != m.fhirType {
				t.Errorf("%s: a %s maps as %s", how, ex.typ, m.resource)
				ok = false
				continue
			}
			if !checkRecord(t, how, m.resource, rec, id, src) {
				ok = false
				continue
			}
			if raw && !sameJSON(t, recordRaw(t, rec), ex.body) {
				t.Errorf("%s: raw differs from the source's resource", how)
				ok = false
			}
		}
	}
	return ok
}

// mapSafely maps body, turning a panic into an error that names it.
func mapSafely(m *resourceMap, body []byte, src unified.Source, raw, inBundle bool) (rec json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return m.record(body, src, raw, inBundle)
}

// checkRecord checks that rec is a JSON object of resource's unified type,
// strictly (no field the type lacks), with its source set, and its id id
// when that is not "" (a searchset entry may have none).
func checkRecord(t *testing.T, how string, resource unified.ResourceType, rec []byte, id string, src unified.Source) bool {
	t.Helper()
	typ := resource.GoType()
	if typ == nil {
		t.Errorf("%s: resource %s has no Go type", how, resource)
		return false
	}
	v := reflect.New(typ)
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil || !bytes.HasPrefix(bytes.TrimSpace(rec), []byte("{")) {
		t.Errorf("%s: the record is not a %s: %v\n%s", how, typ, err, rec)
		return false
	}
	gotID := v.Elem().FieldByName("ID").String()
	gotSrc, _ := v.Elem().FieldByName("Source").Interface().(unified.Source)
	if id != "" && gotID != id {
		t.Errorf("%s: id %q, want %q", how, gotID, id)
		return false
	}
	if gotSrc.ConnectionID != src.ConnectionID || gotSrc.System != src.System || gotSrc.SourceID != gotID {
		t.Errorf("%s: source %+v for id %q", how, gotSrc, gotID)
		return false
	}
	return true
}

// recordRaw returns the raw member of a record.
func recordRaw(t *testing.T, rec []byte) []byte {
	t.Helper()
	var r struct {
		Raw json.RawMessage `json:"raw"`
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		t.Fatal(err)
	}
	return r.Raw
}

// sameJSON reports whether a and b are the same JSON value, numbers
// compared as written.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	va, errA := decodeAny(a)
	vb, errB := decodeAny(b)
	if errA != nil || errB != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

// examplePage is a Bundle example prepared for the page functions: the
// Bundle as it is, and a searchset of its entries.
type examplePage struct {
	name, typ string // the name and the Bundle's type
	body      []byte
	searchset []byte
	// types are the resource types of the searchset's matches.
	types []string
}

func newExamplePage(t *testing.T, b exampleResource) examplePage {
	t.Helper()
	var bundle struct {
		Type  string            `json:"type"`
		Entry []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(b.body, &bundle); err != nil {
		t.Fatalf("%s: %v", b.name, err)
	}
	p := examplePage{name: b.name, typ: bundle.Type, body: b.body}
	entries := make([]string, 0, len(bundle.Entry))
	for _, e := range bundle.Entry {
		entries = append(entries, string(e))
		var entry struct {
			Resource *struct {
				ResourceType string `json:"resourceType"`
			} `json:"resource"`
			Search struct {
				Mode string `json:"mode"`
			} `json:"search"`
		}
		if err := json.Unmarshal(e, &entry); err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		if entry.Resource != nil && entry.Search.Mode != "include" && entry.Search.Mode != "outcome" {
			p.types = append(p.types, entry.Resource.ResourceType)
		}
	}
	p.searchset = []byte(bundleJSON("", "", -1, entries...))
	return p
}

// checkExamplePage feeds a Bundle example to m's page function: as it is
// (a Bundle that is not a searchset is an upstream error), and as a
// searchset of its entries, modes and all, where every match of m's type
// is a record, the same with raw as without.
func checkExamplePage(t *testing.T, m *resourceMap, p examplePage) {
	t.Helper()
	src := unified.Source{ConnectionID: "c-examples", System: system}
	if p.typ != "searchset" {
		if _, _, err := pageSafely(m, p.body, src, false); connectors.CodeOf(err) != connectors.CodeUpstream {
			t.Errorf("%s (a %q Bundle) as a page of %s: error %v, want an upstream error", p.name, p.typ, m.resource, err)
		}
	}
	want := 0
	for _, typ := range p.types {
		if typ == m.fhirType {
			want++
		}
	}
	var plain []json.RawMessage
	for _, raw := range []bool{false, true} {
		if raw && want == 0 {
			continue
		}
		how := fmt.Sprintf("%s as a searchset of %s (raw %v)", p.name, m.resource, raw)
		recs, page, err := pageSafely(m, p.searchset, src, raw)
		if err != nil {
			t.Errorf("%s: %v", how, err)
			continue
		}
		if len(recs) != want || page.matches != want {
			t.Errorf("%s: %d records (%d matches), want %d", how, len(recs), page.matches, want)
		}
		for _, rec := range recs {
			checkRecord(t, how, m.resource, rec, "", src)
		}
		if !raw {
			plain = recs
		} else if len(plain) == len(recs) {
			for i := range recs {
				if !sameJSON(t, withoutRawBytes(recs[i]), plain[i]) {
					t.Errorf("%s: record %d differs from the one without raw", how, i)
				}
			}
		}
	}
}

// pageSafely maps a page, turning a panic into an error that names it.
func pageSafely(m *resourceMap, body []byte, src unified.Source, raw bool) (recs []json.RawMessage, page pageInfo, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return m.page(body, src, raw)
}
