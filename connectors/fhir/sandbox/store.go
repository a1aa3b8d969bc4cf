package sandbox

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"
)

// data holds the embedded resources: see data/NOTICE.md for where they come
// from.
//
//go:embed data/patients.json data/handwritten.json data/synthea/*.json
var data embed.FS

// resource is one stored resource: the JSON it is served as, and the values
// its search parameters match on, extracted once.
type resource struct {
	typ, id string
	raw     json.RawMessage
	values  map[string][]value  // search parameter name → values
	refs    map[string][]string // _include path → the references there, "Type/id"
}

// store is the loaded data. It is built once and only read afterwards.
type store struct {
	byType map[string][]*resource // in load order, which is search order
	byRef  map[string]*resource   // "Type/id" → resource
	// recordPatients are the patients whose whole record is embedded, in
	// search order; the others have only their Patient resource.
	recordPatients []string
}

// loadStore parses the embedded data once per process; the result is
// shared, read-only, by every Server.
var loadStore = sync.OnceValue(func() *store {
	s, err := load(data)
	if err != nil {
		// The data is compiled in, and a test loads it: this is a broken
		// build, not a runtime condition.
		panic("sandbox: embedded data: " + err.Error())
	}
	return s
})

// loaded is a resource while the store is built.
type loaded struct {
	*resource
	tree map[string]any
	txn  map[string]string // its transaction's fullUrl → "Type/id", or nil
}

// load reads data/patients.json (an array of Patients), then each
// transaction Bundle of data/synthea/ and data/handwritten.json, and stores
// them as a FHIR server stores a transaction: each entry under its own
// resource id, and every reference rewritten to Type/id, whether it was the
// fullUrl of another entry (urn:uuid:…) or a conditional reference
// (Practitioner?identifier=…). A resource already stored (Synthea repeats
// providers in each patient's bundle) keeps its first copy.
//
// The data carries no meta.lastUpdated; each resource is stamped with the
// latest date of its recorded paths (when it was last written, as far as
// the record tells), and those without one (Patient, Practitioner, …) with
// the latest stamp of all.
func load(fsys fs.FS) (*store, error) {
	s := &store{byType: map[string][]*resource{}, byRef: map[string]*resource{}}
	var all []*loaded
	add := func(raw json.RawMessage, fullURL string, txn map[string]string, file string) (string, error) {
		var tree map[string]any
		if err := json.Unmarshal(raw, &tree); err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		typ, _ := tree["resourceType"].(string)
		id, _ := tree["id"].(string)
		if resourceTypes[typ] == nil || !validID(id) {
			return "", fmt.Errorf("%s: a resource of an unserved type or without a valid id (%q)", file, typ)
		}
		ref := typ + "/" + id
		if txn != nil && fullURL != "" {
			txn[fullURL] = ref
		}
		if s.byRef[ref] != nil {
			return typ, nil
		}
		r := &resource{typ: typ, id: id, raw: raw}
		s.byRef[ref] = r
		s.byType[typ] = append(s.byType[typ], r)
		all = append(all, &loaded{resource: r, tree: tree, txn: txn})
		return typ, nil
	}

	body, err := fs.ReadFile(fsys, "data/patients.json")
	if err != nil {
		return nil, err
	}
	var patients []json.RawMessage
	if err := json.Unmarshal(body, &patients); err != nil {
		return nil, fmt.Errorf("data/patients.json: %w", err)
	}
	for _, raw := range patients {
		typ, err := add(raw, "", nil, "data/patients.json")
		if err != nil {
			return nil, err
		}
		if typ != "Patient" {
			return nil, errors.New("data/patients.json holds something that is not a Patient")
		}
	}
	files, err := fs.Glob(fsys, "data/synthea/*.json")
	if err != nil {
		return nil, err
	}
	for _, file := range append(files, "data/handwritten.json") {
		body, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		var b struct {
			ResourceType string `json:"resourceType"`
			Type         string `json:"type"`
			Entry        []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if b.ResourceType != "Bundle" || b.Type != "transaction" {
			return nil, fmt.Errorf("%s: not a transaction Bundle", file)
		}
		txn := map[string]string{}
		for _, e := range b.Entry {
			if _, err := add(e.Resource, e.FullURL, txn, file); err != nil {
				return nil, err
			}
		}
	}

	// First index: on the data as written, for conditional references
	// (identifiers) and for the stamps (dates), neither of which follows a
	// reference.
	for _, l := range all {
		l.values = index(l.typ, l.tree, nil)
	}
	stamps := make([]string, len(all))
	var latest time.Time
	for i, l := range all {
		if hasLastUpdated(l.tree) {
			continue
		}
		if t, ok := recordedAt(l.typ, l.tree); ok {
			stamps[i] = t.UTC().Format(time.RFC3339Nano)
			if t.After(latest) {
				latest = t
			}
		}
	}
	for i, l := range all {
		if stamps[i] == "" && !hasLastUpdated(l.tree) {
			if latest.IsZero() {
				return nil, errors.New("no resource has a date to stamp the others with")
			}
			stamps[i] = latest.UTC().Format(time.RFC3339Nano)
		}
	}

	// Rewrite references and stamp, then index again on the stored form,
	// now that references resolve.
	for i, l := range all {
		raw, err := rewrite(l.raw, func(ref string) (string, error) { return s.resolveRef(l, ref) }, stamps[i])
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", l.typ, l.id, err)
		}
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return nil, fmt.Errorf("%s/%s: rewritten resource is not JSON: %w", l.typ, l.id, err)
		}
		l.raw = c.Bytes()
		l.tree = nil
		if err := json.Unmarshal(l.raw, &l.tree); err != nil {
			return nil, err
		}
	}
	trees := make(map[string]any, len(all))
	for _, l := range all {
		trees[l.typ+"/"+l.id] = l.tree
	}
	resolve := func(ref string) any { return trees[ref] }
	for _, l := range all {
		l.values = index(l.typ, l.tree, resolve)
		for _, path := range resourceTypes[l.typ].includes {
			for _, v := range (param{typ: referenceParam, paths: []string{path}}).extract(l.tree, nil) {
				if l.refs == nil {
					l.refs = map[string][]string{}
				}
				l.refs[path] = append(l.refs[path], v.text)
			}
		}
	}
	// The record patients are those some resource belongs to.
	inRecords := map[string]bool{}
	for _, l := range all {
		for _, v := range l.values["patient"] {
			inRecords[v.text] = true
		}
	}
	for _, r := range s.byType["Patient"] {
		if inRecords["Patient/"+r.id] {
			s.recordPatients = append(s.recordPatients, r.id)
		}
	}
	return s, nil
}

func hasLastUpdated(tree map[string]any) bool {
	meta, _ := tree["meta"].(map[string]any)
	return meta != nil && meta["lastUpdated"] != nil
}

// index extracts a resource's values for every search parameter of its
// type.
func index(typ string, tree map[string]any, resolve func(string) any) map[string][]value {
	rt := resourceTypes[typ]
	vals := make(map[string][]value, len(rt.params)+len(commonParams))
	for _, name := range rt.paramNames() {
		p, _ := rt.lookup(name)
		if v := p.extract(tree, resolve); len(v) > 0 {
			vals[name] = v
		}
	}
	return vals
}

// recordedAt is the latest date at the type's recorded paths: of a Period,
// its end, or its start while it is ongoing.
func recordedAt(typ string, tree map[string]any) (time.Time, bool) {
	var latest time.Time
	for _, path := range resourceTypes[typ].recorded {
		for _, n := range walk(tree, strings.Split(path, "."), nil, nil) {
			s, _ := n.(string)
			if m, ok := n.(map[string]any); ok {
				if s, _ = m["end"].(string); s == "" {
					s, _ = m["start"].(string)
				}
			}
			if t, _, ok := parseDate(s); ok && t.After(latest) {
				latest = t
			}
		}
	}
	return latest, !latest.IsZero()
}

// resolveRef returns what a reference in l is stored as.
func (s *store) resolveRef(l *loaded, ref string) (string, error) {
	switch {
	case strings.HasPrefix(ref, "#"): // a contained resource
		return ref, nil
	case strings.Contains(ref, "?"): // conditional: Type?params, exactly one match
		typ, query, _ := strings.Cut(ref, "?")
		rt := resourceTypes[typ]
		if rt == nil {
			return "", fmt.Errorf("conditional reference to an unserved type %s", typ)
		}
		q, problem := parseQuery(rt, query)
		if problem != "" {
			return "", fmt.Errorf("conditional reference %s: %s", ref, problem)
		}
		var found []*resource
		for _, r := range s.byType[typ] {
			if q.matches(r) {
				found = append(found, r)
			}
		}
		if len(found) != 1 {
			return "", fmt.Errorf("conditional reference %s matches %d resources, not one", ref, len(found))
		}
		return typ + "/" + found[0].id, nil
	}
	if to, ok := l.txn[ref]; ok { // the fullUrl of an entry of the same transaction
		return to, nil
	}
	if s.byRef[ref] != nil {
		return ref, nil
	}
	return "", fmt.Errorf("reference %s resolves to nothing in the sandbox", ref)
}

// rewrite returns a resource's JSON with the value of every "reference"
// member passed through ref and, when stamp is not empty, meta.lastUpdated
// set to it (the resource has none). Every other byte is kept as it is, so
// the resource keeps its member order and formatting.
func rewrite(raw []byte, ref func(string) (string, error), stamp string) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(raw) + 64)
	depth := 0
	member := ""       // the member whose value comes next
	stampMeta := false // the next object is the resource's meta
	stamped := stamp == ""
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case '"':
			j := stringEnd(raw, i)
			if j < 0 {
				return nil, errors.New("unterminated string")
			}
			k := j
			for k < len(raw) && isSpace(raw[k]) {
				k++
			}
			if k < len(raw) && raw[k] == ':' { // a member name
				if err := json.Unmarshal(raw[i:j], &member); err != nil {
					return nil, err
				}
				stampMeta = depth == 1 && member == "meta" && !stamped
				out.Write(raw[i : k+1])
				i = k + 1
				continue
			}
			if member == "reference" {
				var v string
				if err := json.Unmarshal(raw[i:j], &v); err != nil {
					return nil, err
				}
				to, err := ref(v)
				if err != nil {
					return nil, err
				}
				writeString(&out, to)
			} else {
				out.Write(raw[i:j])
			}
			member = ""
			i = j
			continue
		case '{':
			depth++
			out.WriteByte(c)
			i++
			if stampMeta {
				out.WriteString(`"lastUpdated":`)
				writeString(&out, stamp)
				k := i
				for k < len(raw) && isSpace(raw[k]) {
					k++
				}
				if k < len(raw) && raw[k] != '}' {
					out.WriteByte(',')
				}
				stampMeta, stamped = false, true
			}
			member = ""
			continue
		case '}':
			if depth == 1 && !stamped {
				out.WriteString(`,"meta":{"lastUpdated":`)
				writeString(&out, stamp)
				out.WriteByte('}')
				stamped = true
			}
			depth--
		case '[', ']', ',':
			if c == '[' {
				depth++
			} else if c == ']' {
				depth--
			}
			member = ""
		}
		if stampMeta && !isSpace(c) {
			return nil, errors.New("meta is not an object")
		}
		out.WriteByte(c)
		i++
	}
	if !json.Valid(out.Bytes()) {
		return nil, errors.New("rewritten resource is not JSON")
	}
	return out.Bytes(), nil
}

// stringEnd returns the index after the JSON string starting at raw[i], or
// -1.
func stringEnd(raw []byte, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// writeString writes s as a JSON string, without the HTML escaping of
// json.Marshal.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// ids returns the ids of a type's resources, in search order.
func (s *store) ids(typ string) []string {
	rs := s.byType[typ]
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return ids
}

// servedTypes returns the served types, sorted.
func servedTypes() []string {
	types := make([]string, 0, len(resourceTypes))
	for t := range resourceTypes {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}
