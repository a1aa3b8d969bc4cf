package proxy

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/auditlog/auditlogtest"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/unified"
)

// echoConnector answers without a source, so the fuzzer exercises only the
// request parsing and validation in front of it.
type echoConnector struct{}

func (echoConnector) Metadata(context.Context, *connectors.MetadataRequest) (*connectors.MetadataResponse, error) {
	return &connectors.MetadataResponse{Kind: "fhir", Resources: []connectors.ResourceCapability{
		{Resource: unified.Patients, Read: true, Search: true, SearchParams: []string{"name", "birth_date", "identifier"}},
	}}, nil
}

func (echoConnector) Configure(context.Context, *connectors.ConfigureRequest) (*connectors.ConfigureResponse, error) {
	return &connectors.ConfigureResponse{}, nil
}

func (echoConnector) Read(_ context.Context, r *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	b, _ := json.Marshal(map[string]string{"id": r.ID})
	return &connectors.ReadResponse{Record: b}, nil
}

func (echoConnector) Search(_ context.Context, r *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	b, _ := json.Marshal(r.Params)
	return &connectors.SearchResponse{Records: []json.RawMessage{b}}, nil
}

func fuzzServer(f *testing.F) *Server {
	cfg, probs := config.Parse(testConfig("http://127.0.0.1:9/fhir", nil), "")
	if len(probs) > 0 {
		f.Fatal(probs)
	}
	conns, err := NewInProcess(context.Background(), cfg, map[string]connectors.Connector{"fhir": echoConnector{}})
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(context.Background(), Options{Config: cfg, Connectors: conns,
		Audit: &auditlogtest.Recorder{}})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzServeAPI sends arbitrary request targets and headers through the whole
// pipeline: never a panic, only statuses from the closed set, and every
// non-200 answer a well-formed problem.
func FuzzServeAPI(f *testing.F) {
	s := fuzzServer(f)
	for _, seed := range []string{
		"/v1/demo/patients?limit=5", "/v1/demo/patients/abc", "/v1/demo/patients?name=x&birth_date=2000-01-01",
		"/v1/demo/patients?limit=-1", "/v1//patients", "/v1/demo/patients/%2e%2e", "/v1/demo/patients?name=%00",
		"/v1/other/patients", "/v1/demo/../admin", "/v1/demo/patients?raw=true&limit=200", "/%zz",
	} {
		f.Add("GET", seed, "Bearer "+keyDemo, "rid-1")
	}
	f.Add("POST", "/v1/demo/patients", "bearer "+keyDemo, "")
	f.Add("GET", "/v1/demo/patients", "Basic abc", "\x00")
	allowed := map[int]bool{200: true, 400: true, 401: true, 403: true, 404: true, 405: true, 413: true, 500: false, 502: true, 503: true, 504: true}
	f.Fuzz(func(t *testing.T, method, target, auth, rid string) {
		var rc fasthttp.RequestCtx
		rc.Request.Header.SetMethod(method)
		rc.Request.SetRequestURI(target)
		rc.Request.Header.Set("Authorization", auth)
		rc.Request.Header.Set("X-Request-Id", rid)
		s.serveAPI(&rc)
		st := rc.Response.StatusCode()
		if !allowed[st] {
			t.Fatalf("status %d for %q %q", st, method, target)
		}
		body := rc.Response.Body()
		if !json.Valid(body) {
			t.Fatalf("invalid JSON body for %q: %q", target, body)
		}
		if st != 200 {
			var p unified.Problem
			if err := json.Unmarshal(body, &p); err != nil || p.Status != st || p.Code == "" ||
				string(rc.Response.Header.ContentType()) != "application/problem+json" {
				t.Fatalf("bad problem for %q: %s", target, body)
			}
		}
	})
}

// FuzzValidRelativePath: whatever a plugin asks for, the URL the host
// builds stays under the connection's base path.
func FuzzValidRelativePath(f *testing.F) {
	for _, s := range []string{"Patient/1", "../x", "%2e%2e/x", "a/%2F/b", "http://evil", "//evil/x", "a\\b", "Patient?x=1", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !connectors.ValidRelativePath(p) {
			return
		}
		var u fasthttp.URI
		u.SetScheme("https")
		u.SetHost("source.example")
		u.SetPath("/base/" + p)
		if string(u.Host()) != "source.example" {
			t.Fatalf("%q changed the host to %q", p, u.Host())
		}
		if got := string(u.Path()); len(got) < 6 || got[:6] != "/base/" {
			t.Fatalf("%q escaped the base path: %q", p, got)
		}
	})
}
