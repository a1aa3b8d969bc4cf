package strictjson

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// MaxSize is the largest document Decode accepts, in bytes. A configuration
// file is a few kilobytes; the limit keeps a wrong path (a log file, a
// binary) from being read into memory and walked.
const MaxSize = 8 << 20

// MaxDepth is the deepest nesting of objects and arrays Decode accepts. The
// walk is recursive, so the limit is what keeps a hostile document from
// exhausting the stack; real configurations are a handful of levels deep.
const MaxDepth = 64

// Problem is one thing wrong with a document: where it is and what it is.
type Problem struct {
	// Path is the JSON path of the offending value or key, such as
	// $.connections[2].base_url.
	Path string
	// Message says what is wrong, such as `unknown field "base_ur1"`.
	Message string
}

// String formats the problem the way `ferry check` prints it.
func (p Problem) String() string {
	return p.Path + ": " + p.Message
}

// Decode decodes the JSON document data into v, which must be a non-nil
// pointer (normally to a struct). It returns nil when the document is valid
// and has been decoded; otherwise it returns every problem found, in
// document order, and leaves v untouched.
//
// (The one exception to "untouched" is a document the walk passes but
// encoding/json then rejects, which the walk is built to make impossible;
// should it happen, encoding/json may have partly filled v, and its error
// is returned as a problem at $.)
//
// See the package documentation for the few documents Decode rejects that
// encoding/json would accept.
func Decode(data []byte, v any) []Problem {
	issues := decode(data, v)
	if len(issues) == 0 {
		return nil
	}
	problems := make([]Problem, len(issues))
	for i, is := range issues {
		problems[i] = is.Problem
	}
	return problems
}

// issueKind classifies a problem so that the fuzz test can tell the
// deliberate disagreements with encoding/json from real errors.
type issueKind uint8

const (
	kindError     issueKind = iota // encoding/json rejects the document too
	kindDuplicate                  // a key repeated in one object
	kindFold                       // a key matching a field only case-insensitively
	kindArrayLen                   // more elements than a Go array holds
	kindLimit                      // the document is too large or too deep
)

// deliberate reports whether encoding/json accepts what this kind of
// problem rejects.
func (k issueKind) deliberate() bool { return k != kindError }

// issue is a Problem with its kind.
type issue struct {
	Problem
	kind issueKind
}

// decode is Decode with the problems' kinds kept.
func decode(data []byte, v any) []issue {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return []issue{{Problem{"$", fmt.Sprintf("strictjson: cannot decode into %T: need a non-nil pointer", v)}, kindError}}
	}
	if len(data) > MaxSize {
		return []issue{{Problem{"$", fmt.Sprintf("document is %d bytes, over the %d-byte (8 MiB) limit", len(data), MaxSize)}, kindLimit}}
	}
	if issues := check(data, rv.Type()); len(issues) > 0 {
		return issues
	}
	if err := decodeStd(data, v); err != nil {
		// The walk mirrors encoding/json closely, so this is only reached
		// through things a type-driven walk cannot see, such as an
		// interface field that already holds a pointer. The path is $
		// because encoding/json's errors do not carry a usable one.
		return []issue{{Problem{"$", err.Error()}, kindError}}
	}
	return nil
}

// decodeStd decodes data into v with encoding/json, turning a panic in a
// custom decoder into an error so that Decode never panics.
func decodeStd(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while decoding: %v", r)
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// check walks data against the type of the destination pointer t and
// returns the problems found.
func check(data []byte, t reflect.Type) []issue {
	w := &walker{data: data, dec: json.NewDecoder(bytes.NewReader(data)), path: []byte{'$'}}
	// Numbers must arrive as their literal text: converting them to float64
	// first would lose the difference between 9007199254740993 and
	// 9007199254740992 when checking the range of an int64.
	w.dec.UseNumber()
	// The destination pointer itself is not settable, which matters for how
	// a top-level null is handled (see resolve).
	w.value(t, false, 0)
	if !w.stopped {
		if i := skipSpace(data, int(w.dec.InputOffset())); i < len(data) {
			w.add(kindError, "unexpected data after the top-level value at %s", position(data, i))
		}
	}
	return w.issues
}

// walker holds the state of one walk over a document.
type walker struct {
	data    []byte
	dec     *json.Decoder
	issues  []issue
	path    []byte // the JSON path of the value being looked at
	stopped bool   // the walk cannot go on: malformed JSON or too deep
}

// add records a problem at the current path.
func (w *walker) add(kind issueKind, format string, args ...any) {
	w.issues = append(w.issues, issue{Problem{string(w.path), fmt.Sprintf(format, args...)}, kind})
}

// pushKey appends an object key to the path and returns the length to
// restore with pop.
func (w *walker) pushKey(key string) int {
	n := len(w.path)
	if isIdentifier(key) {
		w.path = append(w.path, '.')
		w.path = append(w.path, key...)
	} else {
		w.path = append(w.path, '[')
		w.path = strconv.AppendQuote(w.path, key)
		w.path = append(w.path, ']')
	}
	return n
}

// pushIndex appends an array index to the path and returns the length to
// restore with pop.
func (w *walker) pushIndex(i int) int {
	n := len(w.path)
	w.path = append(w.path, '[')
	w.path = strconv.AppendInt(w.path, int64(i), 10)
	w.path = append(w.path, ']')
	return n
}

func (w *walker) pop(n int) { w.path = w.path[:n] }

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// token reads the next token. On malformed JSON it records the problem,
// stops the walk and returns false.
func (w *walker) token() (json.Token, bool) {
	if w.stopped {
		return nil, false
	}
	tok, err := w.dec.Token()
	if err != nil {
		w.malformed(err)
		return nil, false
	}
	return tok, true
}

// malformed records a syntax error and stops the walk.
func (w *walker) malformed(tokenErr error) {
	w.stopped = true
	// The token stream's own offsets are unreliable: its scanner counts only
	// the bytes of literals it decoded, not the delimiters between them. The
	// first syntax error in the document is the same one a whole-document
	// scan finds, so ask encoding/json for that, which has exact offsets.
	var raw json.RawMessage
	var se *json.SyntaxError
	if err := json.Unmarshal(w.data, &raw); errors.As(err, &se) {
		off := int(se.Offset)
		if strings.HasPrefix(se.Error(), "invalid character") {
			// Offset counts the offending byte as read; point at it.
			off--
		}
		w.add(kindError, "malformed JSON at %s: %s", position(w.data, off), se.Error())
		return
	}
	off := int(w.dec.InputOffset())
	msg := tokenErr.Error()
	if errors.Is(tokenErr, io.EOF) || errors.Is(tokenErr, io.ErrUnexpectedEOF) {
		off, msg = len(w.data), "unexpected end of JSON input"
	}
	w.add(kindError, "malformed JSON at %s: %s", position(w.data, off), msg)
}

// position describes a byte offset for a human: the line and column an
// editor shows (the column counts bytes, not characters), and the offset
// itself, which is exact.
func position(data []byte, off int) string {
	off = max(0, min(off, len(data)))
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d, column %d (byte offset %d)", line, col, off)
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// valueStart returns where the value whose token follows offset prev
// begins: the token stream consumes the ',' or ':' before a value lazily,
// so whitespace and at most one separator lie in between.
func (w *walker) valueStart(prev int64) int {
	i := skipSpace(w.data, int(prev))
	if i < len(w.data) && (w.data[i] == ',' || w.data[i] == ':') {
		i = skipSpace(w.data, i+1)
	}
	return i
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	numberType          = reflect.TypeFor[json.Number]()
	stringType          = reflect.TypeFor[string]()
)

// target is what a JSON value decodes into, as resolve works it out.
type target struct {
	json   reflect.Type // a pointer type whose UnmarshalJSON takes the value
	text   reflect.Type // a pointer type whose UnmarshalText takes the string
	nilled bool         // the value is null and sets a pointer to nil
	base   reflect.Type // otherwise the non-pointer type decoded by kind
}

// resolve mirrors encoding/json's indirect on types: starting from a
// destination of type t, it follows pointers the way encoding/json would
// allocate them and stops at the first custom decoder it would call.
// settable is false only for the top-level pointer passed to Decode; every
// other destination (field, element, map value) is addressable and
// settable. noMethods is true for an unexported embedded field, on which
// encoding/json cannot call methods.
func resolve(t reflect.Type, settable, null, noMethods bool) target {
	cur := t
	haveAddr := false
	if t.Kind() != reflect.Pointer && t.Name() != "" {
		// encoding/json takes the address of a named value so that methods
		// with pointer receivers are found.
		haveAddr = true
		cur = reflect.PointerTo(t)
		settable = false
	}
	for cur.Kind() == reflect.Pointer {
		if null && settable {
			return target{nilled: true}
		}
		if !noMethods && cur.NumMethod() > 0 {
			if cur.Implements(unmarshalerType) {
				return target{json: cur}
			}
			if !null && cur.Implements(textUnmarshalerType) {
				return target{text: cur}
			}
		}
		if haveAddr {
			cur = t
			haveAddr = false
		} else {
			cur = cur.Elem()
		}
		settable = true
		noMethods = false
	}
	return target{base: cur}
}

// value checks the next value in the stream against destination type t.
func (w *walker) value(t reflect.Type, settable bool, depth int) {
	w.valueOf(t, settable, false, depth)
}

// valueOf is value with the noMethods flag of resolve.
func (w *walker) valueOf(t reflect.Type, settable, noMethods bool, depth int) {
	prev := w.dec.InputOffset()
	tok, ok := w.token()
	if !ok {
		return
	}
	w.valueTok(tok, prev, t, settable, noMethods, depth)
}

// valueTok checks a value whose first token, read after offset prev, is tok.
// depth is the nesting depth of the value's container.
func (w *walker) valueTok(tok json.Token, prev int64, t reflect.Type, settable, noMethods bool, depth int) {
	r := resolve(t, settable, tok == nil, noMethods)
	switch {
	case r.json != nil:
		start := w.valueStart(prev)
		if !w.skip(tok, depth) {
			return
		}
		end := int(w.dec.InputOffset())
		// The capacity limit keeps an UnmarshalJSON that appends to its
		// argument from overwriting the rest of the document.
		w.callJSON(r.json, w.data[start:end:end])
		return
	case r.text != nil:
		s, isString := tok.(string)
		if !isString {
			w.add(kindError, "expected string, got %s", kindOf(tok))
			w.skip(tok, depth)
			return
		}
		w.callText(r.text, []byte(s))
		return
	case r.nilled || tok == nil:
		// encoding/json sets pointers, maps, slices and interfaces to nil
		// and leaves every other kind alone, so null is always acceptable.
		return
	}
	switch tok := tok.(type) {
	case json.Delim:
		// The token stream only hands out '{' or '[' at the start of a value.
		if tok == '{' {
			w.object(r.base, depth+1)
		} else {
			w.array(r.base, depth+1)
		}
	case string:
		w.str(r.base, tok)
	case json.Number:
		w.number(r.base, string(tok), false)
	case bool:
		w.boolean(r.base)
	}
}

// skip consumes the rest of a value whose first token is tok, checking
// only syntax and depth. It returns false if the walk had to stop.
func (w *walker) skip(tok json.Token, depth int) bool {
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		w.skipRest(depth + 1)
	}
	return !w.stopped
}

// skipValue consumes the next value without checking it against a type.
func (w *walker) skipValue(depth int) {
	if tok, ok := w.token(); ok {
		w.skip(tok, depth)
	}
}

// skipRest consumes the rest of an object or array whose opening delimiter
// has been read and which is at nesting depth depth. It loops rather than
// recursing, so skipping cannot exhaust the stack either.
func (w *walker) skipRest(depth int) {
	if depth > MaxDepth {
		w.tooDeep()
		return
	}
	for level := 1; level > 0; {
		tok, ok := w.token()
		if !ok {
			return
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			level++
			if depth+level-1 > MaxDepth {
				w.tooDeep()
				return
			}
		case json.Delim('}'), json.Delim(']'):
			level--
		}
	}
}

// tooDeep records the depth problem and stops the walk: going on would mean
// either recursing further or skipping an unbounded amount of nesting, and
// no real configuration is this deep.
func (w *walker) tooDeep() {
	w.add(kindLimit, "nesting deeper than %d levels", MaxDepth)
	w.stopped = true
}

// callJSON runs the UnmarshalJSON method of pointer type pt on a scratch
// value and reports its error at the current path.
func (w *walker) callJSON(pt reflect.Type, raw []byte) {
	u := reflect.New(pt.Elem()).Interface().(json.Unmarshaler)
	if err := guard(func() error { return u.UnmarshalJSON(raw) }); err != nil {
		w.add(kindError, "%s", err.Error())
	}
}

// callText runs the UnmarshalText method of pointer type pt on a scratch
// value and reports its error at the current path.
func (w *walker) callText(pt reflect.Type, text []byte) {
	u := reflect.New(pt.Elem()).Interface().(encoding.TextUnmarshaler)
	if err := guard(func() error { return u.UnmarshalText(text) }); err != nil {
		w.add(kindError, "%s", err.Error())
	}
}

// guard turns a panic in a custom decoder into an error: a configuration
// checker should say which value upset it rather than crash.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while decoding: %v", r)
		}
	}()
	return f()
}

// kindOf names the JSON kind of a value by its first token.
func kindOf(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '{' {
			return "object"
		}
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// expected describes, as a JSON kind, what a value of type t must be.
func expected(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64 string or array"
		}
		return "array"
	case reflect.Array:
		return "array"
	case reflect.String:
		if t == numberType {
			return "number"
		}
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return ""
}

// mismatch records that a value of JSON kind got cannot go into type t.
func (w *walker) mismatch(t reflect.Type, got string) {
	if want := expected(t); want != "" {
		w.add(kindError, "expected %s, got %s", want, got)
		return
	}
	// Interfaces with methods, channels, functions and complex numbers
	// cannot be decoded into; that is a bug in the Go type, but the
	// operator still needs to see where it bites.
	w.add(kindError, "cannot decode %s into Go type %v", got, t)
}

// object checks an object, whose '{' has been read, against type t.
func (w *walker) object(t reflect.Type, depth int) {
	if depth > MaxDepth {
		w.tooDeep()
		return
	}
	var fields *structFields
	var keyType, elemType reflect.Type
	switch {
	case t.Kind() == reflect.Interface && t.NumMethod() == 0:
		// encoding/json decodes an object into an empty interface as a
		// map[string]any.
		keyType, elemType = stringType, t
	case t.Kind() == reflect.Map:
		switch t.Key().Kind() {
		case reflect.String,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		default:
			if !reflect.PointerTo(t.Key()).Implements(textUnmarshalerType) {
				w.add(kindError, "cannot decode object into Go map type %v: unsupported key type", t)
				w.skipRest(depth)
				return
			}
		}
		keyType, elemType = t.Key(), t.Elem()
	case t.Kind() == reflect.Struct:
		fields = cachedFields(t)
	default:
		w.mismatch(t, "object")
		w.skipRest(depth)
		return
	}

	var seen map[string]int
	for !w.stopped && w.dec.More() {
		prev := w.dec.InputOffset()
		tok, ok := w.token()
		if !ok {
			return
		}
		key, _ := tok.(string) // the token stream only hands out strings as keys
		keyStart, keyEnd := w.valueStart(prev), int(w.dec.InputOffset())
		n := w.pushKey(key)

		first, dup := seen[key]
		if dup {
			w.add(kindDuplicate, "duplicate key %q; it was already given at %s", key, position(w.data, first))
		} else {
			if seen == nil {
				seen = make(map[string]int)
			}
			seen[key] = keyStart
		}

		if fields == nil {
			w.mapKey(keyType, key, w.data[keyStart:keyEnd])
			w.value(elemType, true, depth)
			w.pop(n)
			continue
		}
		f := fields.byName[key]
		switch {
		case f == nil:
			if !dup {
				w.unknown(key, fields)
			}
			w.skipValue(depth)
		case f.unsettable:
			w.add(kindError, "cannot decode into field %s: it is reached through an unexported embedded pointer", f.goName)
			w.skipValue(depth)
		case f.quoted:
			w.quoted(f.typ, depth)
		default:
			w.valueOf(f.typ, true, f.noMethods, depth)
		}
		w.pop(n)
	}
	w.token() // the closing '}'
}

// unknown records an unknown field, suggesting the field the author
// probably meant.
func (w *walker) unknown(key string, fields *structFields) {
	for _, name := range fields.names {
		if strings.EqualFold(key, name) {
			w.add(kindFold, "unknown field %q (field names are case-sensitive: did you mean %q?)", key, name)
			return
		}
	}
	if name := closest(key, fields.names); name != "" {
		w.add(kindError, "unknown field %q (did you mean %q?)", key, name)
		return
	}
	w.add(kindError, "unknown field %q", key)
}

// closest returns the name within edit distance 2 of key, if exactly one
// name is nearest and the distance is small next to the key's length, so
// that the suggestion is a likely typo fix rather than noise.
func closest(key string, names []string) string {
	const limit = 3
	best, bestDist, tie := "", limit, false
	for _, name := range names {
		d := editDistance(key, name, limit)
		switch {
		case d < bestDist:
			best, bestDist, tie = name, d, false
		case d == bestDist && d < limit:
			tie = true
		}
	}
	if best == "" || tie || bestDist*3 > len(key) {
		return ""
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b in bytes,
// or limit if it is at least limit.
func editDistance(a, b string, limit int) int {
	if len(a)-len(b) >= limit || len(b)-len(a) >= limit || len(a) > 64 || len(b) > 64 {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

// mapKey checks an object key against map key type kt. raw is the key as
// written, quotes included, which is what an UnmarshalJSON method gets.
func (w *walker) mapKey(kt reflect.Type, key string, raw []byte) {
	if pt := reflect.PointerTo(kt); pt.Implements(textUnmarshalerType) {
		// encoding/json decodes the key as a quoted literal, which goes
		// through UnmarshalJSON first when the type has one.
		if pt.Implements(unmarshalerType) {
			w.callJSON(pt, raw)
		} else {
			w.callText(pt, []byte(key))
		}
		return
	}
	switch kt.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(key, 10, 64)
		if err != nil || reflect.Zero(kt).OverflowInt(n) {
			w.add(kindError, "map key %q is not a valid %v", key, kt)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := strconv.ParseUint(key, 10, 64)
		if err != nil || reflect.Zero(kt).OverflowUint(n) {
			w.add(kindError, "map key %q is not a valid %v", key, kt)
		}
	}
}

// array checks an array, whose '[' has been read, against type t.
func (w *walker) array(t reflect.Type, depth int) {
	if depth > MaxDepth {
		w.tooDeep()
		return
	}
	var elemType reflect.Type
	limit := -1
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 {
			w.mismatch(t, "array")
			w.skipRest(depth)
			return
		}
		elemType = t
	case reflect.Slice:
		elemType = t.Elem()
	case reflect.Array:
		elemType, limit = t.Elem(), t.Len()
	default:
		w.mismatch(t, "array")
		w.skipRest(depth)
		return
	}
	for i := 0; !w.stopped && w.dec.More(); i++ {
		n := w.pushIndex(i)
		if limit >= 0 && i >= limit {
			if i == limit {
				w.add(kindArrayLen, "too many elements: at most %d allowed", limit)
			}
			w.skipValue(depth)
		} else {
			w.value(elemType, true, depth)
		}
		w.pop(n)
	}
	w.token() // the closing ']'
}

// quoted checks the value of a field with the ",string" option, which
// encoding/json expects as a string holding a JSON literal.
func (w *walker) quoted(t reflect.Type, depth int) {
	prev := w.dec.InputOffset()
	tok, ok := w.token()
	if !ok {
		return
	}
	switch tok := tok.(type) {
	case nil:
		// A bare null is decoded as an ordinary null.
		w.valueTok(nil, prev, t, true, false, depth)
	case string:
		w.quotedLiteral(t, tok)
	default:
		w.add(kindError, `expected a string holding %s (the field has the ",string" option), got %s`, expectedQuoted(t), kindOf(tok))
		w.skip(tok, depth)
	}
}

// expectedQuoted describes what the string of a ",string" field of type t
// must hold.
func expectedQuoted(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.String {
		return "a JSON string"
	}
	return expected(t)
}

// quotedLiteral checks item, the contents of the string given for a
// ",string" field of type t, the way encoding/json's literalStore does.
func (w *walker) quotedLiteral(t reflect.Type, item string) {
	bad := func() {
		w.add(kindError, `expected a string holding %s (the field has the ",string" option), got %q`, expectedQuoted(t), item)
	}
	if item == "" {
		bad()
		return
	}
	r := resolve(t, true, item[0] == 'n', false)
	if r.json != nil {
		w.callJSON(r.json, []byte(item))
		return
	}
	if r.text != nil {
		s, ok := unquote(item)
		if !ok {
			bad()
			return
		}
		w.callText(r.text, []byte(s))
		return
	}
	switch c := item[0]; {
	case c == 'n':
		if item != "null" {
			bad()
		}
	case c == 't' || c == 'f':
		if item != "true" && item != "false" || r.base.Kind() != reflect.Bool {
			bad()
		}
	case c == '"':
		// Of the kinds ",string" applies to, only a string can hold one.
		s, ok := unquote(item)
		if !ok || r.base.Kind() != reflect.String {
			bad()
			return
		}
		w.str(r.base, s)
	case c == '-' || '0' <= c && c <= '9':
		w.number(r.base, item, true)
	default:
		bad()
	}
}

// unquote decodes s if it is exactly one JSON string literal.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var out string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return "", false
	}
	return out, true
}

// str checks a string value s against type t.
func (w *walker) str(t reflect.Type, s string) {
	switch t.Kind() {
	case reflect.String:
		if t == numberType && !isValidNumber(s) {
			w.add(kindError, "expected a number or a string holding one, got %q", s)
		}
		return
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				w.add(kindError, "invalid base64 data: %v", err)
			}
			return
		}
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return
		}
	}
	w.mismatch(t, "string")
}

// boolean checks a boolean value against type t.
func (w *walker) boolean(t reflect.Type) {
	switch {
	case t.Kind() == reflect.Bool:
	case t.Kind() == reflect.Interface && t.NumMethod() == 0:
	default:
		w.mismatch(t, "boolean")
	}
}

// number checks a number, given as its literal text, against type t. When
// quoted, the text came out of a ",string" field and has not been checked
// against JSON's number grammar, just as encoding/json does not.
func (w *walker) number(t reflect.Type, text string, quoted bool) {
	switch t.Kind() {
	case reflect.Interface:
		// encoding/json makes a float64 of it, which can overflow.
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			w.add(kindError, "number %s is out of range for a float64", text)
			return
		}
		if t.NumMethod() != 0 {
			w.mismatch(t, "number")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			w.notNumber(t, text, quoted)
		case err != nil || reflect.Zero(t).OverflowInt(n):
			bits := t.Bits()
			w.add(kindError, "number %s is out of range for %v (%d to %d)", text, t, int64(-1)<<(bits-1), uint64(1)<<(bits-1)-1)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, err := strconv.ParseUint(text, 10, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			w.notNumber(t, text, quoted)
		case err != nil || reflect.Zero(t).OverflowUint(n):
			w.add(kindError, "number %s is out of range for %v (0 to %d)", text, t, ^uint64(0)>>(64-t.Bits()))
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(text, t.Bits()); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				w.add(kindError, "number %s is out of range for %v", text, t)
			} else {
				w.notNumber(t, text, quoted)
			}
		}
	case reflect.String:
		if t == numberType {
			return
		}
		if quoted {
			w.add(kindError, `expected a string holding a JSON string (the field has the ",string" option), got %q`, text)
			return
		}
		w.mismatch(t, "number")
	default:
		w.mismatch(t, "number")
	}
}

// notNumber records that text, a number literal or the contents of a
// ",string" field, is not the kind of number type t holds.
func (w *walker) notNumber(t reflect.Type, text string, quoted bool) {
	if quoted {
		w.add(kindError, `expected a string holding %s (the field has the ",string" option), got %q`, expectedQuoted(t), text)
		return
	}
	w.add(kindError, "expected %s, got %s", expected(t), text)
}

// isValidNumber reports whether s is a number in JSON's grammar.
func isValidNumber(s string) bool {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	switch {
	case s == "":
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = strings.TrimLeft(s[1:], "0123456789")
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = strings.TrimLeft(s[2:], "0123456789")
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
		}
		if s == "" || s[0] < '0' || s[0] > '9' {
			return false
		}
		s = strings.TrimLeft(s, "0123456789")
	}
	return s == ""
}

// structFields is how encoding/json sees a struct type: the JSON names it
// accepts and the field each one decodes into.
type structFields struct {
	byName map[string]*field
	names  []string // in field order, for suggestions
}

// field is one JSON-visible field of a struct, possibly promoted from an
// embedded struct.
type field struct {
	name       string       // the JSON name
	goName     string       // the Go field name, for messages
	typ        reflect.Type // the Go field's type
	index      []int        // the path of field indexes from the outer struct
	tagged     bool         // the name came from a json tag
	quoted     bool         // the ",string" option applies
	noMethods  bool         // encoding/json cannot call methods on it
	unsettable bool         // encoding/json cannot allocate its way to it
}

var fieldCache sync.Map // reflect.Type -> *structFields

func cachedFields(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f, _ := fieldCache.LoadOrStore(t, typeFields(t))
	return f.(*structFields)
}

// typeFields mirrors encoding/json's function of the same name: a
// breadth-first walk over embedded structs that applies Go's rules for
// promoted fields, modified so that a json tag wins a tie. Copying its
// rules exactly is what makes "unknown field" here mean unknown to
// encoding/json too.
func typeFields(t reflect.Type) *structFields {
	type queued struct {
		typ        reflect.Type
		index      []int
		unsettable bool
	}
	current := []queued{}
	next := []queued{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []field

	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}

		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true

			for i := 0; i < f.typ.NumField(); i++ {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !isValidTag(name) {
					name = ""
				}
				index := make([]int, len(f.index)+1)
				copy(index, f.index)
				index[len(f.index)] = i

				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				quoted := false
				if hasOption(opts, "string") {
					switch ft.Kind() {
					case reflect.Bool,
						reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
						reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
						reflect.Float32, reflect.Float64,
						reflect.String:
						quoted = true
					}
				}

				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					tagged := name != ""
					if name == "" {
						name = sf.Name
					}
					// An unexported field can only be here as an embedded
					// struct given a name by its tag. encoding/json reaches
					// it through a read-only reflect.Value: it cannot call
					// its methods and cannot allocate it if it is a pointer.
					readOnly := !sf.IsExported()
					fields = append(fields, field{
						name:       name,
						goName:     sf.Name,
						typ:        sf.Type,
						index:      index,
						tagged:     tagged,
						quoted:     quoted,
						noMethods:  readOnly,
						unsettable: f.unsettable || readOnly && sf.Type.Kind() == reflect.Pointer,
					})
					if count[f.typ] > 1 {
						// A second copy makes the tie-breaking below drop
						// the name, as encoding/json does.
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}

				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, queued{
						typ:   ft,
						index: index,
						// encoding/json cannot allocate a nil embedded
						// pointer held in an unexported field, so nothing
						// below it can be decoded. (It can if the caller
						// allocated the pointer beforehand; a type-driven
						// walk cannot see that, and errs on the side of
						// reporting.)
						unsettable: f.unsettable || !sf.IsExported() && sf.Type.Kind() == reflect.Pointer,
					})
				}
			}
		}
	}

	// Order by name, then depth, then tagged first, then index, so that
	// the first field of each name is the one that dominates.
	slices.SortFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		// Two fields at the same depth, both tagged or both untagged, are
		// ambiguous; Go hides both and so does encoding/json.
		if j-i == 1 || len(fields[i].index) != len(fields[i+1].index) || fields[i].tagged != fields[i+1].tagged {
			out = append(out, fields[i])
		}
		i = j
	}
	fields = out
	slices.SortFunc(fields, func(a, b field) int { return slices.Compare(a.index, b.index) })

	sf := &structFields{byName: make(map[string]*field, len(fields)), names: make([]string, len(fields))}
	for i := range fields {
		sf.byName[fields[i].name] = &fields[i]
		sf.names[i] = fields[i].name
	}
	return sf
}

// hasOption reports whether the comma-separated tag options contain name.
func hasOption(opts, name string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == name {
			return true
		}
	}
	return false
}

// isValidTag mirrors encoding/json: a tag name with other characters is
// ignored and the Go field name is used instead.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
