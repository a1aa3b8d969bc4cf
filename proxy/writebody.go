package proxy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	"github.com/ferryhealth/ferry/proxy/config/strictjson"
	"github.com/ferryhealth/ferry/unified"
)

// A write's body is the resource's unified JSON, decoded strictly before
// any of it reaches a plugin: every problem is reported at once, each as a
// JSON path and a reason from a closed set (never a value the client
// sent, which may be PHI).

// decodeWriteBody checks body as a create (partial false) or an update
// (partial true) of resource r, and returns what the connector is sent:
// for a create, the record encoded again from its Go type (so that two
// bodies that differ only in spacing, key order or escapes are the same
// bytes, and have the same digest); for an update, the members the client
// sent, each value compacted.
func decodeWriteBody(r unified.ResourceType, spec unified.WriteSpec, body []byte, partial bool) ([]byte, []unified.FieldProblem) {
	var problems []unified.FieldProblem
	add := func(path, reason string) {
		problems = append(problems, unified.FieldProblem{Path: path, Reason: reason})
	}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		// Not a JSON object: the strict decoder says where, if it can.
		for _, p := range strictjson.Decode(body, reflect.New(r.GoType()).Interface()) {
			add(safePath(p.Path), reasonOf(p.Message))
		}
		if len(problems) == 0 {
			add("$", unified.ReasonWrongType)
		}
		return nil, problems
	}
	skip := map[string]bool{} // members already reported
	for name := range top {
		switch {
		case slices.Contains(unified.ReadOnlyFields, name):
			add("$."+name, unified.ReasonReadOnly)
			skip[name] = true
		case partial && !slices.Contains(spec.Updatable, name) && knownField(r, name):
			add("$."+name, unified.ReasonNotUpdatable)
			skip[name] = true
		}
	}
	if !partial {
		for _, name := range spec.Required {
			if v, ok := top[name]; !ok || string(v) == "null" {
				add("$."+name, unified.ReasonRequired)
			}
		}
	}
	rec := reflect.New(r.GoType()).Interface()
	decoded := true
	for _, p := range strictjson.Decode(body, rec) {
		if name := topMember(p.Path); name != "" && skip[name] {
			continue
		}
		decoded = false
		add(safePath(p.Path), reasonOf(p.Message))
	}
	if decoded {
		problems = append(problems, spec.CheckValues(rec)...)
	}
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b unified.FieldProblem) int { return strings.Compare(a.Path, b.Path) })
		return nil, problems
	}
	if !partial {
		out, err := json.Marshal(rec)
		if err != nil {
			return nil, []unified.FieldProblem{{Path: "$", Reason: unified.ReasonInvalid}}
		}
		return out, nil
	}
	for name, v := range top {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			return nil, []unified.FieldProblem{{Path: "$." + name, Reason: unified.ReasonInvalid}}
		}
		top[name] = b.Bytes()
	}
	out, err := json.Marshal(top) // map keys sorted
	if err != nil {
		return nil, []unified.FieldProblem{{Path: "$", Reason: unified.ReasonInvalid}}
	}
	return out, nil
}

// knownField reports whether name is a top-level JSON field of r.
func knownField(r unified.ResourceType, name string) bool {
	return slices.Contains(r.Fields(), name)
}

// topMember is the top-level member a strictjson path starts with
// ("$.source.system" → "source"), or "".
func topMember(path string) string {
	rest, ok := strings.CutPrefix(path, "$.")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// safePath keeps a path to what the client may see echoed: indexes, and
// keys of the shape of every unified field name (lower-case snake_case, at
// most 32 bytes). Any other key (strictjson quotes those that are not
// identifiers, ["..."]) is free text, possibly a value typed into the
// wrong place, as a query parameter's name may be (verdict.Detail): the
// path stops there with [?].
func safePath(p string) string {
	rest, ok := strings.CutPrefix(p, "$")
	if !ok {
		return "$"
	}
	out := "$"
	for rest != "" {
		switch rest[0] {
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 || !isIndex(rest[1:end]) {
				return out + "[?]"
			}
			out, rest = out+rest[:end+1], rest[end+1:]
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : end+1]
			if !fieldShaped(name) {
				return out + "[?]"
			}
			out, rest = out+"."+name, rest[end+1:]
		default:
			return out + "[?]"
		}
	}
	return out
}

func isIndex(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// fieldShaped: [a-z][a-z0-9_]*, at most 32 bytes.
func fieldShaped(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// reasonOf maps strictjson's message to the closed set of reasons; its
// text is never shown (it may quote what the client sent).
func reasonOf(msg string) string {
	switch {
	case strings.HasPrefix(msg, "unknown field"):
		return unified.ReasonUnknownField
	case strings.HasPrefix(msg, "expected"), strings.HasPrefix(msg, "cannot decode"), strings.HasPrefix(msg, "number"):
		return unified.ReasonWrongType
	}
	return unified.ReasonInvalid
}
