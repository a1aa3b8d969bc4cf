package sdktest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/connectors/internal/recordcheck"
	"github.com/ferryhealth/ferry/unified"
)

// Options configure a Harness. Exactly one upstream: Upstream, Recordings or
// a live TransportOptions.BaseURL.
type Options struct {
	// ConnectionID is the connection configured and used for every call;
	// default "test".
	ConnectionID string
	// Settings are the connection's connector settings; default {}.
	Settings json.RawMessage
	// Upstream serves the source in memory: a fake written for the test.
	Upstream http.Handler
	// Recordings are txtar files of recorded answers, replayed in memory
	// (see Replayer); a request with no recorded answer fails the test.
	Recordings []string
	// Transport sets the base URL (required for a live upstream: neither
	// Upstream nor Recordings given), the body cap and the live client.
	Transport TransportOptions
	// RecordTo, with a live upstream, saves every exchange to this txtar
	// file when the test ends, to be replayed with Recordings from then on.
	RecordTo string
	// Timeout is each call's deadline; default DefaultTimeout.
	Timeout time.Duration
	// Messages, when set, is the source of a connector that sends messages
	// with Transport.Exchange (connectors.Exchanger: HL7 v2 over MLLP): it
	// gets each message and gives the answer, both unframed, as the host's
	// Exchange does. With Messages and no HTTP upstream, an HTTP request
	// fails the test.
	Messages func(ctx context.Context, msg []byte) ([]byte, error)
}

// Harness calls a connector in-process the way the host does: it configures
// one connection, hands every call a Transport with the host's rules, checks
// requests as the host would before the connector sees them, and checks
// every record the connector returns against the unified model. Any rule
// broken fails the test with a message naming it.
type Harness struct {
	t            testing.TB
	Connector    connectors.Connector
	Transport    *Transport
	Manifest     *connectors.MetadataResponse
	ConnectionID string
	timeout      time.Duration
	replay       *Replayer
	reportedV    int // violations already reported
	reportedM    int // replay misses already reported
	messages     func(ctx context.Context, msg []byte) ([]byte, error)
}

// New returns a harness for c: it reads and validates the manifest and
// configures the connection, failing the test if either fails.
func New(t testing.TB, c connectors.Connector, opts Options) *Harness {
	t.Helper()
	h := &Harness{t: t, Connector: c, ConnectionID: opts.ConnectionID, timeout: opts.Timeout, messages: opts.Messages}
	if h.ConnectionID == "" {
		h.ConnectionID = "test"
	}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	upstream := opts.Upstream
	if len(opts.Recordings) > 0 {
		if upstream != nil {
			t.Fatal("sdktest: give Upstream or Recordings, not both")
		}
		r, err := Replay(opts.Recordings...)
		if err != nil {
			t.Fatal(err)
		}
		h.replay, upstream = r, r
	}
	var err error
	switch {
	case upstream != nil:
		h.Transport, err = NewTransport(upstream, opts.Transport)
	case opts.Messages != nil && opts.Transport.BaseURL == "":
		h.Transport, err = NewTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Errorf("sdktest: the connector sent an HTTP request (%s %s), but its source speaks messages (Options.Messages)", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotImplemented)
		}), opts.Transport)
	case opts.Transport.BaseURL == "":
		t.Fatal("sdktest: no upstream: give Options.Upstream, Options.Recordings or a live Options.Transport.BaseURL")
	default:
		h.Transport, err = NewLiveTransport(opts.Transport)
	}
	if err != nil {
		t.Fatal(err)
	}
	if opts.RecordTo != "" {
		if upstream != nil {
			t.Fatal("sdktest: RecordTo records a live upstream; give Transport.BaseURL only")
		}
		rec := Record(h.Transport, "Recorded by sdktest from "+opts.Transport.BaseURL+". Synthetic data only.")
		t.Cleanup(func() {
			if err := rec.Write(opts.RecordTo); err != nil {
				t.Error(err)
			}
		})
	}

	ctx, cancel := h.ctx()
	defer cancel()
	m, err := c.Metadata(ctx, &connectors.MetadataRequest{})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("the host would refuse this manifest:\n%v", err)
	}
	h.Manifest = m
	settings := opts.Settings
	if settings == nil {
		settings = json.RawMessage(`{}`)
	}
	if _, err := c.Configure(ctx, &connectors.ConfigureRequest{ConnectionID: h.ConnectionID, Settings: settings}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h
}

func (h *Harness) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), h.timeout)
}

// Read reads one record as the host would for GET /v1/{connection}/{resource}/{id}.
func (h *Harness) Read(resource unified.ResourceType, id string) (json.RawMessage, error) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	resp, err := h.ReadWith(ctx, &connectors.ReadRequest{Resource: resource, ID: id})
	if err != nil {
		return nil, err
	}
	return resp.Record, nil
}

// ReadWith sends req (its ConnectionID and Transport are filled in) after the
// host's own checks, and checks the record returned.
func (h *Harness) ReadWith(ctx context.Context, req *connectors.ReadRequest) (*connectors.ReadResponse, error) {
	h.t.Helper()
	capab, ok := h.Manifest.Resource(req.Resource)
	if !ok || !capab.Read {
		h.t.Fatalf("read of %s: the manifest does not offer it, so the host answers unsupported without calling the connector", req.Resource)
	}
	if !unified.ValidID(req.ID) {
		h.t.Fatalf("read of %s/%q: the host accepts only ids of 1-64 [A-Za-z0-9.-]", req.Resource, req.ID)
	}
	req.ConnectionID, req.Transport = h.ConnectionID, h.transport()
	resp, err := h.Connector.Read(ctx, req)
	h.report()
	if err == nil {
		if resp == nil {
			h.t.Fatalf("read of %s: nil response and nil error", req.Resource)
		}
		if cerr := recordcheck.Record(req.Resource, h.ConnectionID, req.Raw, resp.Record); cerr != nil {
			h.t.Errorf("read of %s: the record is not valid unified JSON: %v", req.Resource, cerr)
		}
	}
	return resp, err
}

// Search asks for one page, as the host would for
// GET /v1/{connection}/{resource}?params&limit= (limit 0 means the default).
func (h *Harness) Search(resource unified.ResourceType, params map[string]string, limit int) (*connectors.SearchResponse, error) {
	h.t.Helper()
	ctx, cancel := h.ctx()
	defer cancel()
	return h.SearchWith(ctx, &connectors.SearchRequest{Resource: resource, Params: params, Limit: limit})
}

// SearchAll follows NextPageToken for at most maxPages pages and returns
// every record.
func (h *Harness) SearchAll(resource unified.ResourceType, params map[string]string, limit, maxPages int) ([]json.RawMessage, error) {
	h.t.Helper()
	var all []json.RawMessage
	token := ""
	for range maxPages {
		ctx, cancel := h.ctx()
		resp, err := h.SearchWith(ctx, &connectors.SearchRequest{Resource: resource, Params: params, Limit: limit, PageToken: token})
		cancel()
		if err != nil {
			return all, err
		}
		all = append(all, resp.Records...)
		if token = resp.NextPageToken; token == "" {
			return all, nil
		}
	}
	h.t.Fatalf("search of %s: still a next page after %d pages", resource, maxPages)
	return nil, nil
}

// SearchWith sends req after the host's checks: the resource offers search,
// every parameter is declared (standard filters are normalised as the host
// does: "loinc|8867-4" reaches the connector as "http://loinc.org|8867-4"),
// every required parameter is present on a first page, and the limit is
// within 1..connectors.MaxSearchLimit (0 means the default). Each record returned is
// checked.
func (h *Harness) SearchWith(ctx context.Context, req *connectors.SearchRequest) (*connectors.SearchResponse, error) {
	h.t.Helper()
	capab, ok := h.Manifest.Resource(req.Resource)
	if !ok || !capab.Search {
		h.t.Fatalf("search of %s: the manifest does not offer it, so the host answers unsupported without calling the connector", req.Resource)
	}
	params := map[string]string{}
	for name, v := range req.Params {
		if !capab.Accepts(name) {
			h.t.Fatalf("search of %s: parameter %s is not in the manifest, so the host refuses it (400 invalid_parameter)", req.Resource, name)
		}
		kind := unified.FilterString
		if f, ok := unified.StandardFilter(name); ok {
			kind = f.Kind
		}
		nv, ok := unified.NormalizeFilter(kind, v)
		if !ok {
			h.t.Fatalf("search of %s: %s=%q is not a valid %s value, so the host refuses it", req.Resource, name, v, kind)
		}
		params[name] = nv
	}
	if req.PageToken == "" {
		for _, r := range capab.RequiredParams {
			if _, ok := params[r]; !ok {
				h.t.Fatalf("search of %s without %s: the host refuses it (400 missing_parameter) before the connector sees it", req.Resource, r)
			}
		}
	}
	switch {
	case req.Limit == 0:
		req.Limit = unified.DefaultLimit
	case req.Limit < 0 || req.Limit > connectors.MaxSearchLimit:
		h.t.Fatalf("search of %s: limit %d is outside 1..%d", req.Resource, req.Limit, connectors.MaxSearchLimit)
	}
	req.Params, req.ConnectionID, req.Transport = params, h.ConnectionID, h.transport()
	resp, err := h.Connector.Search(ctx, req)
	h.report()
	if err == nil {
		if resp == nil {
			h.t.Fatalf("search of %s: nil response and nil error", req.Resource)
		}
		if len(resp.Records) > req.Limit {
			h.t.Errorf("search of %s: %d records for a limit of %d", req.Resource, len(resp.Records), req.Limit)
		}
		for i, rec := range resp.Records {
			if cerr := recordcheck.Record(req.Resource, h.ConnectionID, req.Raw, rec); cerr != nil {
				h.t.Errorf("search of %s: record %d is not valid unified JSON: %v", req.Resource, i, cerr)
			}
		}
	}
	return resp, err
}

// transport is the Transport a call gets: the HTTP one, and with
// Options.Messages also an Exchanger.
func (h *Harness) transport() connectors.Transport {
	if h.messages == nil {
		return h.Transport
	}
	return &messageTransport{Transport: h.Transport, h: h}
}

// messageTransport adds Exchange, with the host's rules, to the HTTP
// Transport.
type messageTransport struct {
	*Transport
	h *Harness
}

var _ connectors.Exchanger = (*messageTransport)(nil)

func (m *messageTransport) Exchange(ctx context.Context, msg []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		m.h.t.Errorf("transport: Exchange called without a deadline: pass on the ctx the call was given")
	}
	if len(msg) == 0 {
		m.h.t.Errorf("transport: Exchange of an empty message, which the host refuses")
		return nil, &connectors.Error{Code: connectors.CodeInternal}
	}
	return m.h.messages(ctx, msg)
}

// report fails the test for every host rule broken and every request with no
// recorded answer since the last call.
func (h *Harness) report() {
	h.t.Helper()
	v := h.Transport.Violations()
	for _, p := range v[min(h.reportedV, len(v)):] {
		h.t.Errorf("transport: %s", p)
	}
	h.reportedV = len(v)
	if h.replay == nil {
		return
	}
	m := h.replay.Misses()
	for _, p := range m[min(h.reportedM, len(m)):] {
		h.t.Errorf("transport: no recorded answer for %s", p)
	}
	h.reportedM = len(m)
}

// Requests returns the requests the connector sent upstream so far.
func (h *Harness) Requests() []connectors.HTTPRequest {
	var out []connectors.HTTPRequest
	for _, ex := range h.Transport.Exchanges() {
		out = append(out, ex.Request)
	}
	return slices.Clip(out)
}
