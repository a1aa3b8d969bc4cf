// Package strictjson decodes a JSON document into a Go struct strictly and
// reports every problem it finds, each with the JSON path where it occurs,
// instead of stopping at the first one.
//
// Ferry's configuration is a single JSON file. encoding/json with
// DisallowUnknownFields rejects a bad file, but it names only the first
// problem, usually without saying where it is, and it silently accepts a
// few things that hide mistakes in a hand-written file (a key given twice,
// a key in the wrong case). `ferry check` wants to print a list an operator
// can fix in one pass:
//
//	$.version: expected integer, got string
//	$.connections[2].base_ur1: unknown field "base_ur1" (did you mean "base_url"?)
//	$.connections[3].timeout: time: missing unit in duration "10"
//	$.listen.port: number 70000 is out of range for uint16 (0 to 65535)
//
// Decode first walks the document with encoding/json's token stream and the
// target type side by side, collecting problems; only when there are none
// does it decode with encoding/json itself, so a nil result means v holds
// exactly what json.Unmarshal would have produced. The walk reports every
// problem up to the first point it cannot get past: malformed JSON, or
// nesting beyond MaxDepth. That point is reported too, and what follows it
// is not examined.
//
// # Paths
//
// A path starts at $ (the document). An object key that is an identifier
// ([A-Za-z_][A-Za-z0-9_]*) is written .name; any other key is written
// ["key"] with Go quoting; an array element is written [i].
//
// # Where Decode deliberately disagrees with encoding/json
//
// Decode reports these documents as having problems although encoding/json
// (with DisallowUnknownFields) accepts them, because each is almost always a
// mistake in a configuration file:
//
//   - A key that appears twice in one object. encoding/json keeps the last
//     value (or merges the two, for a struct), so one of them is ignored
//     without a word. This applies to objects decoded into structs, maps and
//     interface values; the inside of a json.RawMessage or of a value handed
//     to a custom UnmarshalJSON is left to its consumer.
//   - A key that matches a struct field only when case is ignored.
//     encoding/json matches field names case-insensitively; Decode requires
//     the exact name and suggests it.
//   - More elements than a Go array type holds. encoding/json drops the
//     extra elements.
//   - Nesting deeper than MaxDepth levels, or a document larger than MaxSize
//     bytes. encoding/json allows 10000 levels and any size.
//
// In every other case the two agree: a document has no problems exactly when
// encoding/json decodes it without error. The fuzz test checks both
// directions on a representative configuration type.
//
// Custom decoders (json.Unmarshaler and encoding.TextUnmarshaler) are run
// twice: once on a scratch value while checking, so that their errors are
// reported at the right path, and once by encoding/json for the real
// decode. They must therefore not have side effects beyond their receiver.
package strictjson
