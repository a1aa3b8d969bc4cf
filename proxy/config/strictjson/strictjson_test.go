package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/proxy/config/strictjson"
)

// Duration is the kind of custom type a configuration uses: a JSON string
// such as "10s" decoded by UnmarshalJSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration must be a string such as "10s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Level is an encoding.TextUnmarshaler.
type Level int

func (l *Level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "debug":
		*l = 0
	case "info":
		*l = 1
	case "error":
		*l = 2
	default:
		return fmt.Errorf("unknown log level %q", b)
	}
	return nil
}

// Common is embedded in Config, so its fields are promoted.
type Common struct {
	Region string `json:"region"`
	Debug  bool   `json:"debug"`
}

// Auth is embedded through a pointer, which encoding/json allocates.
type Auth struct {
	Token string `json:"token"`
}

type Config struct {
	Common
	*Auth
	Version     int                  `json:"version"`
	Name        string               `json:"name,omitempty"`
	Listen      Listen               `json:"listen"`
	Connections []Connection         `json:"connections"`
	Routes      map[string]Route     `json:"routes"`
	Weights     map[int]float64      `json:"weights"`
	LogLevel    Level                `json:"log_level"`
	Extra       json.RawMessage      `json:"extra"`
	Meta        any                  `json:"meta"`
	Window      [2]int               `json:"window"`
	Secret      []byte               `json:"secret"`
	Port        int                  `json:"port,string"`
	Budget      json.Number          `json:"budget"`
	Ratio       float32              `json:"ratio"`
	Internal    string               `json:"-"`
	Timeouts    map[string]*Duration `json:"timeouts"`
}

type Listen struct {
	Host string `json:"host"`
	Port uint16 `json:"port"`
	TLS  *TLS   `json:"tls"`
}

type TLS struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

type Connection struct {
	ID      string   `json:"id"`
	BaseURL string   `json:"base_url"`
	Timeout Duration `json:"timeout"`
	Retries int8     `json:"retries"`
}

type Route struct {
	Upstream string `json:"upstream"`
	Enabled  *bool  `json:"enabled"`
}

func problems(lines ...string) []strictjson.Problem {
	var ps []strictjson.Problem
	for _, l := range lines {
		path, msg, _ := strings.Cut(l, ": ")
		ps = append(ps, strictjson.Problem{Path: path, Message: msg})
	}
	return ps
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []strictjson.Problem
	}{
		{
			name: "unknown field with a typo suggestion",
			in:   `{"connections":[{},{},{"id":"c","base_ur1":"https://x"}]}`,
			want: problems(`$.connections[2].base_ur1: unknown field "base_ur1" (did you mean "base_url"?)`),
		},
		{
			name: "unknown field with nothing close",
			in:   `{"listen":{"hostname":"x"}}`,
			want: problems(`$.listen.hostname: unknown field "hostname"`),
		},
		{
			name: "unknown field differing only in case",
			in:   `{"Version":1}`,
			want: problems(`$.Version: unknown field "Version" (field names are case-sensitive: did you mean "version"?)`),
		},
		{
			name: "ignored field is unknown",
			in:   `{"Internal":"x"}`,
			want: problems(`$.Internal: unknown field "Internal"`),
		},
		{
			name: "string for an int",
			in:   `{"version":"1"}`,
			want: problems(`$.version: expected integer, got string`),
		},
		{
			name: "object for a string",
			in:   `{"name":{"first":"a"}}`,
			want: problems(`$.name: expected string, got object`),
		},
		{
			name: "number for a struct",
			in:   `{"listen":8080}`,
			want: problems(`$.listen: expected object, got number`),
		},
		{
			name: "object for a slice",
			in:   `{"connections":{"id":"a"}}`,
			want: problems(`$.connections: expected array, got object`),
		},
		{
			name: "boolean for a string",
			in:   `{"listen":{"host":true}}`,
			want: problems(`$.listen.host: expected string, got boolean`),
		},
		{
			name: "string for a bool",
			in:   `{"debug":"yes"}`,
			want: problems(`$.debug: expected boolean, got string`),
		},
		{
			name: "fraction for an int",
			in:   `{"version":1.5}`,
			want: problems(`$.version: expected integer, got 1.5`),
		},
		{
			name: "exponent for an int",
			in:   `{"version":1e30}`,
			want: problems(`$.version: expected integer, got 1e30`),
		},
		{
			name: "int64 overflow",
			in:   `{"version":9223372036854775808}`,
			want: problems(`$.version: number 9223372036854775808 is out of range for int (-9223372036854775808 to 9223372036854775807)`),
		},
		{
			name: "uint16 overflow",
			in:   `{"listen":{"port":70000}}`,
			want: problems(`$.listen.port: number 70000 is out of range for uint16 (0 to 65535)`),
		},
		{
			name: "negative uint",
			in:   `{"listen":{"port":-1}}`,
			want: problems(`$.listen.port: expected non-negative integer, got -1`),
		},
		{
			name: "int8 underflow",
			in:   `{"connections":[{"retries":-129}]}`,
			want: problems(`$.connections[0].retries: number -129 is out of range for int8 (-128 to 127)`),
		},
		{
			name: "float32 overflow",
			in:   `{"ratio":1e39}`,
			want: problems(`$.ratio: number 1e39 is out of range for float32`),
		},
		{
			name: "float64 overflow inside an interface",
			in:   `{"meta":{"big":[1e400]}}`,
			want: problems(`$.meta.big[0]: number 1e400 is out of range for a float64`),
		},
		{
			name: "duplicate key",
			in:   `{"version":1,"version":2}`,
			want: problems(`$.version: duplicate key "version"; it was already given at line 1, column 2 (byte offset 1)`),
		},
		{
			name: "duplicate key in a map and in an interface",
			in:   `{"routes":{"a":{},"a":{}},"meta":{"x":1,"y":{"z":1,"z":2}}}`,
			want: problems(
				`$.routes.a: duplicate key "a"; it was already given at line 1, column 12 (byte offset 11)`,
				`$.meta.y.z: duplicate key "z"; it was already given at line 1, column 46 (byte offset 45)`,
			),
		},
		{
			name: "duplicate unknown key is reported once as unknown",
			in:   `{"x":1,"x":2}`,
			want: problems(
				`$.x: unknown field "x"`,
				`$.x: duplicate key "x"; it was already given at line 1, column 2 (byte offset 1)`,
			),
		},
		{
			name: "null is fine everywhere",
			in:   `{"listen":null,"version":null,"name":null,"connections":[null],"routes":{"a":null},"meta":null,"extra":null,"log_level":null,"window":null,"port":null,"secret":null}`,
		},
		{
			name: "custom UnmarshalJSON error at its path",
			in:   `{"connections":[{"timeout":"10s"},{"timeout":"ten seconds"},{"timeout":10}]}`,
			want: problems(
				`$.connections[1].timeout: time: invalid duration "ten seconds"`,
				`$.connections[2].timeout: a duration must be a string such as "10s"`,
			),
		},
		{
			name: "custom UnmarshalJSON under a map key",
			in:   `{"timeouts":{"read":"1s","write timeout":"1 s"}}`,
			want: problems(`$.timeouts["write timeout"]: time: unknown unit " s" in duration "1 s"`),
		},
		{
			name: "TextUnmarshaler error",
			in:   `{"log_level":"verbose"}`,
			want: problems(`$.log_level: unknown log level "verbose"`),
		},
		{
			name: "TextUnmarshaler given a number",
			in:   `{"log_level":3}`,
			want: problems(`$.log_level: expected string, got number`),
		},
		{
			name: "map keys in paths",
			in:   `{"routes":{"api":{"upstrem":"a"},"a b":{"bogus":1},"0":{"enabled":"yes"},"":{"x":1}}}`,
			want: problems(
				`$.routes.api.upstrem: unknown field "upstrem" (did you mean "upstream"?)`,
				`$.routes["a b"].bogus: unknown field "bogus"`,
				`$.routes["0"].enabled: expected boolean, got string`,
				`$.routes[""].x: unknown field "x"`,
			),
		},
		{
			name: "non-identifier keys are quoted",
			in:   `{"routes":{"x\"y":{"q\n":1},"é":{"_ok9":1}}}`,
			want: problems(
				`$.routes["x\"y"]["q\n"]: unknown field "q\n"`,
				`$.routes["é"]._ok9: unknown field "_ok9"`,
			),
		},
		{
			name: "integer map key",
			in:   `{"weights":{"1":0.5,"two":1,"99999999999999999999":1}}`,
			want: problems(
				`$.weights.two: map key "two" is not a valid int`,
				`$.weights["99999999999999999999"]: map key "99999999999999999999" is not a valid int`,
			),
		},
		{
			name: "embedded struct fields are promoted",
			in:   `{"region":"eu","debug":1,"token":false,"Common":{}}`,
			want: problems(
				`$.debug: expected boolean, got number`,
				`$.token: expected string, got boolean`,
				`$.Common: unknown field "Common"`,
			),
		},
		{
			name: "raw message takes anything, even duplicate keys",
			in:   `{"extra":{"a":[1,{"b":null}],"a":"dup"}}`,
		},
		{
			name: "interface takes anything",
			in:   `{"meta":[1,"two",true,null,{"x":[]}]}`,
		},
		{
			name: "array with too many elements",
			in:   `{"window":[1,2,3,4]}`,
			want: problems(`$.window[2]: too many elements: at most 2 allowed`),
		},
		{
			name: "array element of the wrong type",
			in:   `{"window":[1,"2"]}`,
			want: problems(`$.window[1]: expected integer, got string`),
		},
		{
			name: "invalid base64",
			in:   `{"secret":"not base64!"}`,
			want: problems(`$.secret: invalid base64 data: illegal base64 data at input byte 3`),
		},
		{
			name: "string option",
			in:   `{"port":"80"}`,
		},
		{
			name: "string option given a number",
			in:   `{"port":80}`,
			want: problems(`$.port: expected a string holding integer (the field has the ",string" option), got number`),
		},
		{
			name: "string option holding garbage",
			in:   `{"port":"eighty"}`,
			want: problems(`$.port: expected a string holding integer (the field has the ",string" option), got "eighty"`),
		},
		{
			name: "json.Number",
			in:   `{"budget":"12.5e3"}`,
		},
		{
			name: "json.Number given a non-number string",
			in:   `{"budget":"lots"}`,
			want: problems(`$.budget: expected a number or a string holding one, got "lots"`),
		},
		{
			name: "top level is not an object",
			in:   `[1,2]`,
			want: problems(`$: expected object, got array`),
		},
		{
			name: "trailing data",
			in:   "{\"version\":1}\n{\"version\":2}\n",
			want: problems(`$: unexpected data after the top-level value at line 2, column 1 (byte offset 14)`),
		},
		{
			name: "malformed: missing comma",
			in:   "{\"connections\":[{\"id\":\"a\"}\n  {\"id\":\"b\"}]}",
			want: problems(`$.connections[1]: malformed JSON at line 2, column 3 (byte offset 29): invalid character '{' after array element`),
		},
		{
			name: "malformed: problems before the break are kept",
			in:   `{"versio":1,"listen":{"host":"a",}}`,
			want: problems(
				`$.versio: unknown field "versio" (did you mean "version"?)`,
				`$.listen: malformed JSON at line 1, column 34 (byte offset 33): invalid character '}' looking for beginning of object key string`,
			),
		},
		{
			name: "malformed: truncated",
			in:   `{"listen":{"host":"a"`,
			want: problems(`$.listen: malformed JSON at line 1, column 22 (byte offset 21): unexpected end of JSON input`),
		},
		{
			name: "malformed: bad literal",
			in:   `{"connections":[{"id":nul}]}`,
			want: problems(`$.connections[0].id: malformed JSON at line 1, column 26 (byte offset 25): invalid character '}' in literal null (expecting 'l')`),
		},
		{
			name: "malformed: empty input",
			in:   ``,
			want: problems(`$: malformed JSON at line 1, column 1 (byte offset 0): unexpected end of JSON input`),
		},
		{
			name: "too deep",
			in:   `{"meta":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
			want: problems(`$.meta[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nesting deeper than 64 levels`),
		},
		{
			name: "too deep inside a raw message",
			in:   `{"extra":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 70) + `}`,
			want: problems(`$.extra: nesting deeper than 64 levels`),
		},
		{
			name: "several problems in one document, in document order",
			in: `{
  "version": "two",
  "listen": {"host": "0.0.0.0", "port": 99999, "tls": {"cert": "a", "kee": "b"}},
  "connections": [
    {"id": "ehr", "base_url": "https://ehr", "timeout": "5s"},
    {"id": "lab", "base_ur1": "https://lab", "timeout": "forever", "retries": 1.5}
  ],
  "routes": {"/fhir": {"upstream": "ehr", "enabled": "true"}},
  "version": 3
}`,
			want: problems(
				`$.version: expected integer, got string`,
				`$.listen.port: number 99999 is out of range for uint16 (0 to 65535)`,
				`$.listen.tls.kee: unknown field "kee" (did you mean "key"?)`,
				`$.connections[1].base_ur1: unknown field "base_ur1" (did you mean "base_url"?)`,
				`$.connections[1].timeout: time: invalid duration "forever"`,
				`$.connections[1].retries: expected integer, got 1.5`,
				`$.routes["/fhir"].enabled: expected boolean, got string`,
				`$.version: duplicate key "version"; it was already given at line 2, column 3 (byte offset 4)`,
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			got := strictjson.Decode([]byte(tt.in), &c)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%s) problems:\n got %s\nwant %s", tt.in, format(got), format(tt.want))
			}
			if len(got) > 0 && !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Decode changed the destination despite problems: %+v", c)
			}
		})
	}
}

func format(ps []strictjson.Problem) string {
	if len(ps) == 0 {
		return "none"
	}
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("\n\t" + p.String())
	}
	return b.String()
}

func TestProblemString(t *testing.T) {
	p := strictjson.Problem{Path: `$.a.b[2].c`, Message: "message"}
	if got, want := p.String(), "$.a.b[2].c: message"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// validConfig uses every feature of Config; it must decode exactly as
// json.Unmarshal decodes it.
const validConfig = `{
  "region": "eu-west-1",
  "debug": true,
  "token": "s3cret",
  "version": 2,
  "name": "ferry",
  "listen": {"host": "0.0.0.0", "port": 8443, "tls": {"cert": "/c.pem", "key": "/k.pem"}},
  "connections": [
    {"id": "ehr", "base_url": "https://ehr.example", "timeout": "10s", "retries": 3},
    {"id": "lab", "base_url": "https://lab.example", "timeout": "1m30s", "retries": -1}
  ],
  "routes": {"/fhir": {"upstream": "ehr", "enabled": true}, "/lab": {"upstream": "lab", "enabled": null}},
  "weights": {"1": 0.25, "-7": 1e3},
  "log_level": "info",
  "extra": {"anything": [1, 2, {"goes": null}]},
  "meta": {"owner": "ops", "tags": ["a", "b"], "n": 12.5, "ok": false, "none": null},
  "window": [5, 10],
  "secret": "aGVsbG8=",
  "port": "9090",
  "budget": 1.5e10,
  "ratio": 0.75,
  "timeouts": {"read": "5s", "idle": null}
}`

func TestDecodeValidMatchesEncodingJSON(t *testing.T) {
	docs := map[string]string{
		"full":      validConfig,
		"empty":     `{}`,
		"null":      `null`,
		"nulls":     `{"listen":null,"connections":null,"routes":null,"meta":null,"timeouts":{"x":null}}`,
		"empty arr": `{"connections":[],"window":[],"secret":[],"routes":{}}`,
		"bytes arr": `{"secret":[104,105],"window":[1]}`,
		"spacing":   " \t\r\n{ \"version\" : 1 , \"listen\" : { } } \n",
		"escapes":   `{"name":"caf\u00e9 \"quoted\" \\ \/","routes":{"a\tb":{}}}`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var got, want Config
			if err := json.Unmarshal([]byte(doc), &want); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			if ps := strictjson.Decode([]byte(doc), &got); ps != nil {
				t.Fatalf("Decode: %s", format(ps))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode differs from json.Unmarshal:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeKeepsDefaults(t *testing.T) {
	// Like encoding/json, Decode only overwrites what the document sets, so
	// defaults can be filled in before decoding.
	c := Config{Version: 1, Listen: Listen{Host: "127.0.0.1", Port: 8080}}
	if ps := strictjson.Decode([]byte(`{"listen":{"port":9090}}`), &c); ps != nil {
		t.Fatalf("Decode: %s", format(ps))
	}
	if c.Version != 1 || c.Listen.Host != "127.0.0.1" || c.Listen.Port != 9090 {
		t.Errorf("got %+v", c)
	}
}

func TestDecodeBadDestination(t *testing.T) {
	var c Config
	var nilPtr *Config
	for _, v := range []any{nil, c, nilPtr} {
		ps := strictjson.Decode([]byte(`{}`), v)
		if len(ps) != 1 || ps[0].Path != "$" || !strings.Contains(ps[0].Message, "non-nil pointer") {
			t.Errorf("Decode into %T: %v", v, ps)
		}
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	doc := append([]byte(`{"name":"`), bytes.Repeat([]byte("a"), strictjson.MaxSize)...)
	doc = append(doc, `"}`...)
	ps := strictjson.Decode(doc, new(Config))
	if len(ps) != 1 || ps[0].Path != "$" || !strings.Contains(ps[0].Message, "8 MiB") {
		t.Errorf("got %v", ps)
	}
}

func TestDecodeDepthLimitBoundary(t *testing.T) {
	// The root object is level 1, so meta may hold 63 nested arrays.
	for _, n := range []int{strictjson.MaxDepth - 1, strictjson.MaxDepth} {
		doc := `{"meta":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
		ps := strictjson.Decode([]byte(doc), new(Config))
		if tooDeep := n+1 > strictjson.MaxDepth; tooDeep != (len(ps) == 1) {
			t.Errorf("depth %d: got %v", n+1, ps)
		}
	}
	// A hostile document must not exhaust the stack or the heap.
	doc := strings.Repeat("[", strictjson.MaxSize)
	ps := strictjson.Decode([]byte(doc), new(Config))
	if len(ps) != 2 || ps[1].Message != "nesting deeper than 64 levels" {
		t.Errorf("got %v", ps)
	}
}

// Embedding follows encoding/json's rules: shallower fields win, a json
// tag breaks a tie, and an unbroken tie hides the name entirely.
type embedA struct {
	Name  string `json:"name"`
	Shade string
	Tie   int
}

type embedB struct {
	Name  int    // hidden: embedA's tagged field at the same depth wins
	Shade string // tied with embedA.Shade: both hidden
	Tie   int    // tied with embedA.Tie: both hidden
}

type embedOuter struct {
	embedA
	*embedB
	Own string `json:"Tie"` // shallower, so it wins the name outright
}

func TestDecodeEmbeddedRules(t *testing.T) {
	tests := []struct {
		in   string
		want []strictjson.Problem
	}{
		{in: `{"name":"a","Tie":"own"}`},
		{in: `{"name":1}`, want: problems(`$.name: expected string, got number`)},
		{in: `{"Shade":"x"}`, want: problems(`$.Shade: unknown field "Shade"`)},
	}
	for _, tt := range tests {
		var got, want embedOuter
		ps := strictjson.Decode([]byte(tt.in), &got)
		if !reflect.DeepEqual(ps, tt.want) {
			t.Errorf("Decode(%s):\n got %s\nwant %s", tt.in, format(ps), format(tt.want))
		}
		if ps == nil {
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("Decode(%s) = %+v, json.Unmarshal = %+v, %v", tt.in, got, want, err)
			}
		}
	}
}

// hidden has exported fields but is embedded through an unexported
// pointer, which encoding/json cannot allocate.
type hidden struct{ Secret string }

type withHidden struct {
	*hidden
	Open string
}

func TestDecodeUnexportedEmbeddedPointer(t *testing.T) {
	var v withHidden
	ps := strictjson.Decode([]byte(`{"Open":"a","Secret":"b"}`), &v)
	want := problems(`$.Secret: cannot decode into field Secret: it is reached through an unexported embedded pointer`)
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("got %s\nwant %s", format(ps), format(want))
	}
	if err := json.Unmarshal([]byte(`{"Secret":"b"}`), new(withHidden)); err == nil {
		t.Errorf("encoding/json accepted it; the test premise is wrong")
	}
}

// panicky panics in UnmarshalJSON; a checker must report it, not crash.
type panicky struct{}

func (*panicky) UnmarshalJSON([]byte) error { panic("boom") }

func TestDecodeCustomDecoderPanics(t *testing.T) {
	var v struct {
		P panicky `json:"p"`
	}
	ps := strictjson.Decode([]byte(`{"p":1}`), &v)
	want := problems(`$.p: panic while decoding: boom`)
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("got %s\nwant %s", format(ps), format(want))
	}
}

func TestDecodeTopLevelTypes(t *testing.T) {
	// Decode is meant for structs, but any pointer works the same way.
	var m map[string][]int
	if ps := strictjson.Decode([]byte(`{"a":[1],"b":[2,"x"]}`), &m); !reflect.DeepEqual(ps, problems(`$.b[1]: expected integer, got string`)) {
		t.Errorf("got %s", format(ps))
	}
	var d Duration
	if ps := strictjson.Decode([]byte(`"2s"`), &d); ps != nil || d != Duration(2*time.Second) {
		t.Errorf("got %s, %v", format(ps), d)
	}
}

// BenchmarkDecode decodes a ~20 KB configuration of the usual shape.
func BenchmarkDecode(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(`{"version":2,"listen":{"host":"0.0.0.0","port":8443},"connections":[`)
	for i := 0; doc.Len() < 16<<10; i++ {
		if i > 0 {
			doc.WriteString(",")
		}
		fmt.Fprintf(&doc, `{"id":"conn-%d","base_url":"https://source-%d.example.org/fhir/r4","timeout":"%ds","retries":%d}`, i, i, i%60+1, i%5)
	}
	doc.WriteString(`],"routes":{`)
	for i := 0; doc.Len() < 20<<10; i++ {
		if i > 0 {
			doc.WriteString(",")
		}
		fmt.Fprintf(&doc, `"/route/%d":{"upstream":"conn-%d","enabled":true}`, i, i)
	}
	doc.WriteString(`},"meta":{"owner":"platform","labels":["a","b","c"]}}`)
	data := []byte(doc.String())
	if ps := strictjson.Decode(data, new(Config)); ps != nil {
		b.Fatalf("benchmark document has problems: %s", format(ps))
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var c Config
		if ps := strictjson.Decode(data, &c); ps != nil {
			b.Fatal(ps)
		}
	}
	b.ReportMetric(float64(len(data)), "doc-bytes")
}
