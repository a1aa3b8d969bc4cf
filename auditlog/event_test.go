package auditlog

import (
	"bytes"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Regenerate the golden files with: go test ./auditlog/ -run TestGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// eventSchema is the allow-list of Event fields, in order, with their exact
// json tag and type. Adding, removing, renaming, reordering or changing the
// omitempty of a field fails TestEventSchema until this list is edited,
// which is the point: the audit schema only widens by a reviewed change that
// asks "can this field ever carry PHI?".
var eventSchema = []struct {
	name, tag string
	typ       reflect.Type
}{
	{"Time", "time", reflect.TypeFor[time.Time]()},
	{"RequestID", "request_id", reflect.TypeFor[string]()},
	{"TraceID", "trace_id,omitempty", reflect.TypeFor[string]()},
	{"Tenant", "tenant,omitempty", reflect.TypeFor[string]()},
	{"Actor", "actor,omitempty", reflect.TypeFor[string]()},
	// The token's issuer URL and its scopes are the operator's and the
	// authorization server's vocabulary; a subject other than the client
	// is written as a keyed reference (proxy), never in clear.
	{"TokenIssuer", "token_issuer,omitempty", reflect.TypeFor[string]()},
	{"TokenSubject", "token_subject,omitempty", reflect.TypeFor[string]()},
	{"Scopes", "scopes,omitempty", reflect.TypeFor[string]()},
	{"SourceIP", "source_ip", reflect.TypeFor[string]()},
	{"PurposeOfUse", "purpose_of_use,omitempty", reflect.TypeFor[string]()},
	{"BreakGlass", "break_glass,omitempty", reflect.TypeFor[bool]()},
	{"SecurityAlert", "security_alert,omitempty", reflect.TypeFor[bool]()},
	{"Action", "action", reflect.TypeFor[string]()},
	{"ResourceType", "resource_type,omitempty", reflect.TypeFor[string]()},
	{"Route", "route", reflect.TypeFor[string]()},
	{"Connection", "connection,omitempty", reflect.TypeFor[string]()},
	{"Connector", "connector,omitempty", reflect.TypeFor[string]()},
	{"Region", "region", reflect.TypeFor[string]()},
	{"Status", "status", reflect.TypeFor[int]()},
	{"ErrorCode", "error_code,omitempty", reflect.TypeFor[string]()},
	{"AuthzRefusal", "authz_refusal,omitempty", reflect.TypeFor[string]()},
	{"RecordCount", "record_count", reflect.TypeFor[int]()},
	{"LatencyProxyMicros", "latency_proxy_us", reflect.TypeFor[int64]()},
	{"LatencyUpstreamMicros", "latency_upstream_us,omitempty", reflect.TypeFor[int64]()},
	{"PatientRef", "patient_ref,omitempty", reflect.TypeFor[string]()},
	{"RecordRef", "record_ref,omitempty", reflect.TypeFor[string]()},
	{"ConfigHash", "config_hash", reflect.TypeFor[string]()},
	{"ChainID", "chain_id", reflect.TypeFor[string]()},
	{"Seq", "seq", reflect.TypeFor[uint64]()},
	{"PrevHash", "prev_hash", reflect.TypeFor[string]()},
	{"Sig", "sig,omitempty", reflect.TypeFor[string]()},
}

// allowedTypes are the only types an Event field may have. Named types
// (even ones over string) are excluded on purpose: a named type could grow a
// MarshalJSON that emits anything.
var allowedTypes = []reflect.Type{
	reflect.TypeFor[string](),
	reflect.TypeFor[int](),
	reflect.TypeFor[int64](),
	reflect.TypeFor[uint64](),
	reflect.TypeFor[bool](),
	reflect.TypeFor[time.Time](),
}

// fieldConstants parses event.go and returns the value of every exported
// constant whose name starts with "Field", keyed by value. Constants cannot
// be found by reflection, so the test reads the source.
func fieldConstants(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Field") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				if prev, dup := consts[v]; dup {
					t.Fatalf("%s and %s both have the value %q", prev, name.Name, v)
				}
				consts[v] = name.Name
			}
		}
	}
	return consts
}

func TestEventSchema(t *testing.T) {
	typ := reflect.TypeFor[Event]()
	consts := fieldConstants(t)

	var got []string
	var jsonNames []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		got = append(got, f.Name+" "+tag+" "+f.Type.String())

		if !f.IsExported() {
			t.Errorf("field %s is unexported; every field must be on the wire", f.Name)
		}
		if !slices.Contains(allowedTypes, f.Type) {
			t.Errorf("field %s has type %s; only string, int, int64, uint64 and time.Time are allowed", f.Name, f.Type)
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			t.Errorf("field %s has no json name", f.Name)
			continue
		}
		if opts != "" && opts != "omitempty" {
			t.Errorf("field %s has json options %q; only omitempty is allowed", f.Name, opts)
		}
		if _, ok := consts[name]; !ok {
			t.Errorf("field %s: json name %q has no Field* constant", f.Name, name)
		}
		jsonNames = append(jsonNames, name)
	}
	for v, c := range consts {
		if !slices.Contains(jsonNames, v) {
			t.Errorf("constant %s = %q names no Event field", c, v)
		}
	}

	var want []string
	for _, f := range eventSchema {
		want = append(want, f.name+" "+f.tag+" "+f.typ.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Event fields differ from the allow-list in this test.\n got: %q\nwant: %q\n"+
			"If the change is intended, check that the new field can never carry PHI, then update eventSchema, the Field constants, Fields and the golden files.",
			got, want)
	}
	if !slices.Equal(Fields(), jsonNames) {
		t.Errorf("Fields() = %q, want the json names in declaration order %q", Fields(), jsonNames)
	}
}

// fullEvent has every field set, so every key is on the wire; a real
// event would not pair status 200 with an error code. Its time is
// deliberately not in UTC, to show that the wire format converts it.
func fullEvent() *Event {
	return &Event{
		Time:                  time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.FixedZone("EST", -5*3600)),
		RequestID:             "01JQ8Z6X4N3M2K1H0G9F8E7D6C",
		TraceID:               "4bf92f3577b34da6a3ce929d0e0e4736",
		Tenant:                "acme-health",
		Actor:                 "client_7f3a",
		TokenIssuer:           "https://auth.acme-health.example",
		TokenSubject:          "client_7f3a",
		Scopes:                "system/Patient.rs system/Observation.rs?category=vital-signs",
		SourceIP:              "203.0.113.7",
		PurposeOfUse:          "BTG",
		BreakGlass:            true,
		SecurityAlert:         true,
		Action:                ActionRead,
		ResourceType:          "patients",
		Route:                 "/v1/{connection_id}/patients/{id}",
		Connection:            "epic-prod",
		Connector:             "fhir",
		Region:                "us-east-1",
		Status:                200,
		ErrorCode:             "upstream_timeout",
		AuthzRefusal:          "compartment",
		RecordCount:           1,
		LatencyProxyMicros:    412,
		LatencyUpstreamMicros: 18250,
		PatientRef:            "hmac-sha256:4181d5064afa86fcb415ad5663d25c992250cdc2d2609ab094e7e70dabbabf19",
		ConfigHash:            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ChainID:               "6f1c0e2a9b3d4c5e8f7a6b5c4d3e2f10",
		Seq:                   42,
		PrevHash:              "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
		Sig:                   "ed25519:0123456789abcdef:c2lnbmF0dXJl",
	}
}

// refusedEvent is the smallest realistic event: a request refused before
// authentication, so it has no tenant, actor, connection or patient.
func refusedEvent() *Event {
	return &Event{
		Time:               time.Date(2026, 3, 14, 14, 26, 53, 0, time.UTC),
		RequestID:          "01JQ8Z6X4N3M2K1H0G9F8E7D6D",
		SourceIP:           "198.51.100.23",
		Action:             ActionRefused,
		Route:              "/v1/{connection_id}/patients/{id}",
		Region:             "us-east-1",
		Status:             401,
		ErrorCode:          "unauthenticated",
		LatencyProxyMicros: 38,
		ConfigHash:         "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
}

// TestGolden pins the wire format: what the JSON-lines sink writes for an
// event, byte for byte, including the trailing newline.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		e    *Event
	}{
		{"event.golden.json", fullEvent()},
		{"refused.golden.json", refusedEvent()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := NewJSONLines(&buf).Write(t.Context(), tc.e); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("wire format changed (run with -update if intended)\n got: %s\nwant: %s", buf.Bytes(), want)
			}
		})
	}
}

// marshalStd is the encoding/json reference for AppendJSON: the same Event
// with its time in UTC, which AppendJSON does itself.
func marshalStd(t testing.TB, e *Event) []byte {
	c := *e
	c.Time = c.Time.UTC()
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendJSONMatchesEncodingJSON holds the hand encoder to the struct
// tags: any drift between the two (a new field, a changed omitempty, an
// escaping difference) fails here.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	tricky := []string{
		"", "plain", `quote " and backslash \`, "<script>&amp;</script>",
		"new\nline\r\ttab\b\f", "\x00\x01\x1f\x7f", "naïve café 日本語 🚑",
		"bad utf8 \xff\xfe end", "\xc3", "line\u2028sep\u2029para", "\ufffd",
	}
	events := []*Event{fullEvent(), refusedEvent(), {}}
	for _, s := range tricky {
		e := fullEvent()
		e.RequestID, e.TraceID, e.Tenant, e.Route, e.PrevHash, e.ChainID, e.Sig = s, s, s, s, s, s, s
		e.Status, e.RecordCount, e.LatencyProxyMicros, e.Seq = -1, -1<<31, -1<<63, 1<<64-1
		events = append(events, e)
	}
	for i, e := range events {
		got := e.AppendJSON(nil)
		want := marshalStd(t, e)
		if !bytes.Equal(got, want) {
			t.Errorf("event %d:\n AppendJSON: %s\nencoding/json: %s", i, got, want)
		}
		if bytes.ContainsAny(got, "\n\r") {
			t.Errorf("event %d: encoding contains a raw line break: %q", i, got)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("req", "tenant", "/v1/{connection_id}/patients/{id}", int64(200), uint64(1), int64(0))
	f.Add("a\"b\\c", "<&>", "\x00\n\u2028\xff", int64(-1), uint64(1<<64-1), int64(1e18))
	f.Fuzz(func(t *testing.T, a, b, c string, n int64, u uint64, ns int64) {
		e := &Event{
			Time:                  time.Unix(0, ns).UTC(),
			RequestID:             a,
			TraceID:               b,
			Tenant:                c,
			Actor:                 a + b,
			SourceIP:              b,
			PurposeOfUse:          c,
			Action:                a,
			ResourceType:          b,
			Route:                 c,
			Connection:            a,
			Connector:             b,
			Region:                c,
			Status:                int(n),
			ErrorCode:             a,
			RecordCount:           int(n >> 3),
			LatencyProxyMicros:    n,
			LatencyUpstreamMicros: -n,
			PatientRef:            b,
			ConfigHash:            c,
			ChainID:               b,
			Seq:                   u,
			PrevHash:              a,
			Sig:                   c,
		}
		got := e.AppendJSON(nil)
		if want := marshalStd(t, e); !bytes.Equal(got, want) {
			t.Fatalf("\n AppendJSON: %s\nencoding/json: %s", got, want)
		}
		if bytes.ContainsAny(got, "\n\r") {
			t.Fatalf("raw line break in %q", got)
		}
	})
}

// BenchmarkEncode compares the hand encoder with the best encoding/json
// can do (a reused Encoder over a reused buffer). It is the measurement
// behind the choice of AppendJSON; see the package doc.
func BenchmarkEncode(b *testing.B) {
	e := fullEvent()
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = e.AppendJSON(buf[:0])
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for b.Loop() {
			buf.Reset()
			c := *e
			c.Time = c.Time.UTC()
			if err := enc.Encode(&c); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}
