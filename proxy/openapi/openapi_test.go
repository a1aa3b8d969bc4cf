package openapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferryhealth/ferry/unified"
)

// Run alone with: go test ./proxy/openapi
// Rewrite the committed documents with: go test ./proxy/openapi -run TestOpenAPIUpToDate -update
var update = flag.Bool("update", false, "rewrite docs/openapi.json and docs/api.md from the unified types")

const (
	srcDir     = "../../unified"
	apiVersion = "1"
	jsonPath   = "../../docs/openapi.json"
	mdPath     = "../../docs/api.md"
)

// TestOpenAPIUpToDate: the committed document is what the current unified
// types and doc comments generate, so the gateway serves the truth.
func TestOpenAPIUpToDate(t *testing.T) {
	gen, err := Generate(srcDir, apiVersion)
	if err != nil {
		t.Fatal(err)
	}
	md, err := Markdown(srcDir, apiVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{{jsonPath, gen}, {mdPath, md}} {
		if *update {
			if err := os.WriteFile(f.path, f.want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatalf("%v\nrun: go test ./proxy/openapi -run TestOpenAPIUpToDate -update", err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s is stale (%s)\nrun: go test ./proxy/openapi -run TestOpenAPIUpToDate -update, and commit it",
				strings.TrimPrefix(f.path, "../../"), firstDiff(got, f.want))
		}
	}
	if !*update && !bytes.Equal(Document(), gen) {
		t.Error("Document() differs from what Generate makes: rebuild after -update")
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference at line %d: committed %q, generated %q", i+1, gl, wl)
		}
	}
	return "no line differs"
}

func TestDeterministic(t *testing.T) {
	a, err := Generate(srcDir, apiVersion)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := Generate(srcDir, apiVersion)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("two runs of Generate differ")
		}
	}
	if !bytes.HasSuffix(a, []byte("}\n")) || !bytes.HasPrefix(a, []byte("{\n  \"")) {
		t.Fatal("not two-space indented with a trailing newline")
	}
}

// generated decodes a freshly generated document (so this test checks the
// generator even while the committed copy is stale).
func generated(t *testing.T) map[string]any {
	t.Helper()
	b, err := Generate(srcDir, apiVersion)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return doc
}

// pointer resolves a local JSON pointer ("#/components/schemas/Patient").
func pointer(doc map[string]any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func deref(doc map[string]any, v any) map[string]any {
	m, _ := v.(map[string]any)
	if r, ok := m["$ref"].(string); ok {
		target, _ := pointer(doc, r)
		m, _ = target.(map[string]any)
	}
	return m
}

func walk(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, c := range v {
			walk(c, visit)
		}
	case []any:
		for _, c := range v {
			walk(c, visit)
		}
	}
}

var methods = []string{"get", "put", "post", "delete", "patch"}

// TestOpenAPIShape: an OpenAPI 3.1 document whose references all resolve,
// whose path parameters are all declared, and whose operations all carry
// the common headers, errors and security.
func TestOpenAPIShape(t *testing.T) {
	doc := generated(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "Ferry unified healthcare API" || info["version"] != apiVersion {
		t.Fatalf("info = %v", info)
	}
	// One relative server: the document is relative to where it is served.
	if sv, _ := doc["servers"].([]any); len(sv) != 1 || sv[0].(map[string]any)["url"] != "/" {
		t.Errorf("servers = %v, want one, with url \"/\"", doc["servers"])
	}
	if lic, _ := info["license"].(map[string]any); lic["identifier"] != "Apache-2.0" {
		t.Errorf("info.license = %v, want the repository's licence (Apache-2.0)", info["license"])
	}
	walk(doc, func(m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			if !strings.HasPrefix(r, "#/components/") {
				t.Errorf("$ref %s is not to a component", r)
			} else if _, ok := pointer(doc, r); !ok {
				t.Errorf("$ref %s does not resolve", r)
			}
		}
	})

	paths, _ := doc["paths"].(map[string]any)
	opIDs := map[string]string{}
	tmpl := regexp.MustCompile(`\{([^}]+)\}`)
	for path, raw := range paths {
		item := raw.(map[string]any)
		var inPath []string
		for _, m := range tmpl.FindAllStringSubmatch(path, -1) {
			inPath = append(inPath, m[1])
		}
		shared := params(doc, item["parameters"])
		for _, method := range methods {
			op, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			if id, _ := op["operationId"].(string); id == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := opIDs[id]; dup {
				t.Errorf("%s: operationId %s also used by %s", where, id, prev)
			} else {
				opIDs[id] = where
			}
			all := append(params(doc, op["parameters"]), shared...)
			declared := map[string]bool{}
			for _, p := range all {
				if p["in"] == "path" {
					declared[p["name"].(string)] = true
					if p["required"] != true {
						t.Errorf("%s: path parameter %s not required", where, p["name"])
					}
				}
			}
			for _, name := range inPath {
				if !declared[name] {
					t.Errorf("%s: path parameter {%s} not declared", where, name)
				}
				delete(declared, name)
			}
			for name := range declared {
				t.Errorf("%s: declares path parameter %s absent from the path", where, name)
			}
			for _, h := range []string{"X-Request-Id", "X-Purpose-Of-Use"} {
				if !slices.ContainsFunc(all, func(p map[string]any) bool { return p["in"] == "header" && p["name"] == h }) {
					t.Errorf("%s: no request header %s", where, h)
				}
			}
			responses, _ := op["responses"].(map[string]any)
			for code, r := range responses {
				headers, _ := deref(doc, r)["headers"].(map[string]any)
				for _, h := range []string{"X-Request-Id", "Server-Timing"} {
					if _, ok := headers[h]; !ok {
						t.Errorf("%s: response %s has no header %s", where, code, h)
					}
				}
			}
			sec, hasSec := op["security"].([]any)
			if path == "/v1/openapi.json" {
				if !hasSec || len(sec) != 0 {
					t.Errorf("%s: must need no credentials, security = %v", where, op["security"])
				}
				continue
			}
			if hasSec && len(sec) == 0 {
				t.Errorf("%s: no security", where)
			}
			for _, st := range errorStatuses {
				r := deref(doc, responses[strconv.Itoa(st)])
				if _, ok := r["content"].(map[string]any)["application/problem+json"]; !ok {
					t.Errorf("%s: no %d problem response", where, st)
				}
			}
		}
	}
	for _, r := range unified.ResourceTypes() {
		for _, p := range []string{"/v1/{connection_id}/" + string(r), "/v1/{connection_id}/" + string(r) + "/{id}"} {
			if _, ok := paths[p]; !ok {
				t.Errorf("no path %s", p)
			}
		}
	}
}

func params(doc map[string]any, v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, p := range list {
		out = append(out, deref(doc, p))
	}
	return out
}

// TestEveryFieldInSchema: every JSON field of every unified type reachable
// from the API is a property of its schema, required unless omitempty.
func TestEveryFieldInSchema(t *testing.T) {
	doc := generated(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	seen := map[reflect.Type]bool{}
	var check func(reflect.Type)
	check = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice {
			if rt == typeRaw {
				return
			}
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || rt.PkgPath() != unifiedPath || seen[rt] {
			return
		}
		seen[rt] = true
		sc, ok := schemas[typeName(rt)].(map[string]any)
		if !ok {
			t.Errorf("no schema for %s", rt)
			return
		}
		props, _ := sc["properties"].(map[string]any)
		required, _ := sc["required"].([]any)
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if _, ok := props[name]; !ok {
				t.Errorf("%s.%s (%s) missing from its schema", rt.Name(), f.Name, name)
			}
			if omit := strings.Contains(","+opts+",", ",omitempty,"); omit == slices.Contains(required, any(name)) {
				t.Errorf("%s.%s: required is %v, omitempty is %v", rt.Name(), f.Name, !omit, omit)
			}
			check(f.Type)
		}
	}
	for _, r := range unified.ResourceTypes() {
		check(r.GoType())
		list := schemas[typeName(r.GoType())+"List"].(map[string]any)
		items := list["properties"].(map[string]any)["data"].(map[string]any)["items"].(map[string]any)
		if items["$ref"] != ref("schemas", typeName(r.GoType())) {
			t.Errorf("%s list items = %v", r, items)
		}
	}
	check(reflect.TypeFor[unified.Problem]())
	check(reflect.TypeFor[unified.Capabilities]())
}

// TestEnums: the closed sets come from package unified.
func TestEnums(t *testing.T) {
	doc := generated(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	enum := func(name string) []string {
		var out []string
		for _, v := range schemas[name].(map[string]any)["enum"].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	codes := stringsOf(unified.Codes())
	slices.Sort(codes)
	if got := enum("Code"); !slices.Equal(got, codes) {
		t.Errorf("Code enum %v, want %v", got, codes)
	}
	if got, want := enum("ResourceType"), stringsOf(unified.ResourceTypes()); !slices.Equal(got, want) {
		t.Errorf("ResourceType enum %v, want %v", got, want)
	}
	kinds := enum("FilterKind")
	for _, f := range unified.StandardFilters() {
		if !slices.Contains(kinds, string(f.Kind)) {
			t.Errorf("filter %s: kind %s not in FilterKind enum %v", f.Name, f.Kind, kinds)
		}
	}
	paths := doc["paths"].(map[string]any)
	for _, r := range unified.ResourceTypes() {
		for _, p := range []string{"/v1/{connection_id}/" + string(r), "/v1/{connection_id}/" + string(r) + "/{id}"} {
			op := paths[p].(map[string]any)["get"].(map[string]any)
			var fields []string
			for _, prm := range params(doc, op["parameters"]) {
				if prm["name"] == "fields" {
					for _, v := range prm["schema"].(map[string]any)["items"].(map[string]any)["enum"].([]any) {
						fields = append(fields, v.(string))
					}
				}
			}
			if !slices.Equal(fields, r.Fields()) {
				t.Errorf("%s fields enum %v, want %v", p, fields, r.Fields())
			}
		}
	}
}

// TestDocumentedGrammar: what the document states about ids and filter
// values is what package unified enforces.
func TestDocumentedGrammar(t *testing.T) {
	re := regexp.MustCompile(idPattern)
	for _, id := range []string{"a", "123", "A-b.c", strings.Repeat("x", 64), strings.Repeat("x", 65), "", ".", "..", "a/b", "a b", "a_b", "é"} {
		documented := re.MatchString(id) && strings.Trim(id, ".") != ""
		if documented != unified.ValidID(id) {
			t.Errorf("id %q: documented %v, ValidID %v", id, documented, unified.ValidID(id))
		}
	}
	max := *filterParameter(unified.StandardFilters()[0], &pkgDocs{}).Schema.MaxLength
	if _, ok := unified.NormalizeFilter(unified.FilterString, strings.Repeat("x", max)); !ok {
		t.Errorf("a filter value of the documented maximum %d is refused", max)
	}
	if _, ok := unified.NormalizeFilter(unified.FilterString, strings.Repeat("x", max+1)); ok {
		t.Errorf("a filter value longer than the documented maximum %d is accepted", max)
	}
}

// TestFieldsDocumented: every unified type and field has a doc comment,
// which becomes its description, except those in
// testdata/undocumented.txt. The list may only shrink: document a field,
// then delete its line.
func TestFieldsDocumented(t *testing.T) {
	_, undocumented, err := build(srcDir, apiVersion)
	if err != nil {
		t.Fatal(err)
	}
	allowed := readAllowlist(t)
	var missing, stale []string
	for _, u := range undocumented {
		if !allowed[u] {
			missing = append(missing, u)
		}
		delete(allowed, u)
	}
	for a := range allowed {
		stale = append(stale, a)
	}
	slices.Sort(stale)
	if len(missing) > 0 {
		t.Errorf("these unified types and fields have no doc comment (add one; it becomes their API description):\n\t%s", strings.Join(missing, "\n\t"))
	}
	if len(stale) > 0 {
		t.Errorf("these are documented or gone now: delete them from proxy/openapi/testdata/undocumented.txt:\n\t%s", strings.Join(stale, "\n\t"))
	}
}

func readAllowlist(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("testdata/undocumented.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out[line] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRename(t *testing.T) {
	d := &pkgDocs{consts: map[string]string{"SystemUCUM": "http://unitsofmeasure.org"}}
	names := map[string]string{"Medication": "medication", "MedicationRef": "medication_ref", "Type": "type", "ID": "id"}
	for in, want := range map[string]string{
		"MedicationRef is set when the source names a Medication resource; Medication then holds it.": "`medication_ref` is set when the source names a Medication resource; `medication` then holds it.",
		"served with Content-Type application/problem+json":                                           "served with Content-Type application/problem+json",
		"System is SystemUCUM.":     "System is `http://unitsofmeasure.org`.",
		"Type names the field.":     "`type` names the field.",
		"see /v1/{ID}/x and x.Type": "see /v1/{ID}/x and x.Type",
	} {
		if got := d.rename(in, names, ""); got != want {
			t.Errorf("rename(%q) = %q, want %q", in, got, want)
		}
	}
	// In a type's doc, the type's own name is not its field's.
	if got := d.rename("Medication is an order", names, "Medication"); got != "Medication is an order" {
		t.Errorf("type name renamed: %q", got)
	}
}
