package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors/fhir/sandbox"
)

// FHIRPrefix is where the fixture serves its FHIR API, as the sandbox does:
// a connection's base URL is the fixture's address followed by it.
const FHIRPrefix = sandbox.Prefix

// SlowPrefix marks the patient ids whose reads the fixture answers after
// FixtureOptions.SlowLatency (W6). Every target passes ids through
// unchanged, so one fixture serves the fast and the slow source.
const SlowPrefix = "slow-"

// FixtureOptions shape the upstream fixture's answers.
type FixtureOptions struct {
	// Latency is added to every answer; Jitter adds up to that much more,
	// spread deterministically by request number.
	Latency, Jitter time.Duration
	// SlowLatency is the latency of reads of ids starting with SlowPrefix.
	// Default 50ms.
	SlowLatency time.Duration
	// ErrorEvery, when > 0, answers every ErrorEvery-th request 500 with
	// an OperationOutcome.
	ErrorEvery int
	// Total is the searchset total the fixture claims; pages continue
	// (with a next link) until it. Default 100,000.
	Total int
}

// Fixture is the upstream: deterministic FHIR R4 answers from synthetic
// (Synthea) data, precomputed so that its own cost stays small next to a
// proxy's. A read of Patient/{id} answers a Patient with that id, whatever
// the id; a search of Observation answers a searchset Bundle of _count
// entries (default 20, at most 200) from _offset, with absolute self and
// next links as real servers send them.
type Fixture struct {
	opts FixtureOptions
	// patientHead and patientTail surround the id in a Patient's JSON.
	patientHead, patientTail []byte
	// observations are compact Observation resources with distinct ids.
	observations [][]byte
	obsIDs       []string
	// pages caches the entry list of each window, per Host (the fullUrls
	// are absolute).
	pages sync.Map // pageKey → []byte
	n     atomic.Uint64
	srv   *fasthttp.Server
	ln    net.Listener
}

type pageKey struct {
	host          string
	count, offset int
}

var errOutcome = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","diagnostics":"fixture error"}]}`)

// NewFixture loads the synthetic data and prepares the answers.
func NewFixture(opts FixtureOptions) (*Fixture, error) {
	if opts.SlowLatency == 0 {
		opts.SlowLatency = 50 * time.Millisecond
	}
	if opts.Total == 0 {
		opts.Total = 100_000
	}
	f := &Fixture{opts: opts}
	sb := sandbox.New(sandbox.Options{})
	get := func(path string) ([]byte, error) {
		rec := httptest.NewRecorder()
		sb.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, sandbox.Prefix+"/"+path, nil))
		if rec.Code != 200 {
			return nil, fmt.Errorf("fixture: sandbox %s: status %d", path, rec.Code)
		}
		return rec.Body.Bytes(), nil
	}
	// The patient: the first with a whole record, its id made a slot.
	recs := sb.RecordPatientIDs()
	if len(recs) == 0 {
		return nil, errors.New("fixture: sandbox has no record patients")
	}
	body, err := get("Patient/" + recs[0])
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	const slot = "\x00ferry-bench-id\x00"
	p["id"] = slot
	pb, _ := json.Marshal(p)
	i := bytes.Index(pb, []byte(`\u0000ferry-bench-id\u0000`))
	if i < 0 {
		return nil, errors.New("fixture: id slot not found")
	}
	f.patientHead = pb[:i]
	f.patientTail = pb[i+len(`\u0000ferry-bench-id\u0000`):]

	// Observations of every record patient, 200 distinct ids at least.
	var src [][]byte
	for _, id := range recs {
		b, err := get("Observation?patient=" + id + "&_count=200")
		if err != nil {
			return nil, err
		}
		var bundle struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			return nil, err
		}
		for _, e := range bundle.Entry {
			src = append(src, e.Resource)
		}
	}
	if len(src) == 0 {
		return nil, errors.New("fixture: sandbox has no observations")
	}
	for k := 0; k < max(400, len(src)) && k < 1000; k++ {
		var o map[string]any
		if err := json.Unmarshal(src[k%len(src)], &o); err != nil {
			return nil, err
		}
		id := "obs-" + strconv.Itoa(k)
		o["id"] = id
		ob, _ := json.Marshal(o)
		f.observations = append(f.observations, ob)
		f.obsIDs = append(f.obsIDs, id)
	}
	return f, nil
}

// Listen starts serving on addr (127.0.0.1:0 for any port).
func (f *Fixture) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	f.ln = ln
	f.srv = &fasthttp.Server{Handler: f.serve, Name: "fixture", NoDefaultServerHeader: true,
		ReadBufferSize: 8192, Concurrency: 1 << 20}
	go func() { _ = f.srv.Serve(ln) }()
	return nil
}

// Addr is the address the fixture listens on.
func (f *Fixture) Addr() string { return f.ln.Addr().String() }

// Close stops the fixture.
func (f *Fixture) Close() error { return f.srv.Shutdown() }

// PatientBody returns what a read of Patient/id answers.
func (f *Fixture) PatientBody(id string) []byte {
	b := make([]byte, 0, len(f.patientHead)+len(id)+len(f.patientTail))
	return append(append(append(b, f.patientHead...), id...), f.patientTail...)
}

func (f *Fixture) serve(rc *fasthttp.RequestCtx) {
	n := f.n.Add(1)
	path := rc.Path()
	rest, ok := bytes.CutPrefix(path, []byte(FHIRPrefix+"/"))
	if !ok {
		rc.SetStatusCode(404)
		return
	}
	delay := f.opts.Latency
	if f.opts.Jitter > 0 {
		// A multiplicative hash spreads consecutive requests over the range.
		delay += time.Duration((n * 0x9E3779B97F4A7C15 >> 33) % uint64(f.opts.Jitter))
	}
	if id, ok := bytes.CutPrefix(rest, []byte("Patient/")); ok && bytes.HasPrefix(id, []byte(SlowPrefix)) {
		delay += f.opts.SlowLatency
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	rc.Response.Header.SetContentType("application/fhir+json; charset=utf-8")
	if f.opts.ErrorEvery > 0 && n%uint64(f.opts.ErrorEvery) == 0 {
		rc.SetStatusCode(500)
		rc.SetBody(errOutcome)
		return
	}
	switch {
	case bytes.HasPrefix(rest, []byte("Patient/")):
		id := rest[len("Patient/"):]
		w := rc.Response.BodyWriter()
		_, _ = w.Write(f.patientHead)
		_, _ = w.Write(id)
		_, _ = w.Write(f.patientTail)
	case string(rest) == "Observation":
		f.search(rc)
	default:
		rc.SetStatusCode(404)
		rc.SetBody(errOutcome)
	}
}

// search answers a searchset Bundle. The self and next links are absolute,
// built from the Host the request came with, and keep the query's other
// parameters in their order.
func (f *Fixture) search(rc *fasthttp.RequestCtx) {
	args := rc.QueryArgs()
	count, _ := strconv.Atoi(string(args.Peek("_count")))
	if count <= 0 {
		count = 20
	}
	count = min(count, 200)
	offset, _ := strconv.Atoi(string(args.Peek("_offset")))
	if offset < 0 {
		offset = 0
	}
	var other strings.Builder
	args.VisitAll(func(k, v []byte) {
		switch string(k) {
		case "_count", "_offset":
			return
		}
		other.WriteString(string(k))
		other.WriteByte('=')
		other.WriteString(string(fasthttp.AppendQuotedArg(nil, v)))
		other.WriteByte('&')
	})
	base := "http://" + string(rc.Host()) + FHIRPrefix + "/Observation?" + other.String() + "_count=" + strconv.Itoa(count)
	self := base
	if offset > 0 {
		self += "&_offset=" + strconv.Itoa(offset)
	}
	w := rc.Response.BodyWriter()
	fmt.Fprintf(w, `{"resourceType":"Bundle","type":"searchset","total":%d,"link":[{"relation":"self","url":%q}`, f.opts.Total, self)
	if offset+count < f.opts.Total {
		fmt.Fprintf(w, `,{"relation":"next","url":%q}`, base+"&_offset="+strconv.Itoa(offset+count))
	}
	_, _ = w.Write([]byte(`],"entry":[`))
	_, _ = w.Write(f.entries(string(rc.Host()), count, offset))
	_, _ = w.Write([]byte(`]}`))
}

func (f *Fixture) entries(host string, count, offset int) []byte {
	key := pageKey{host, count, offset}
	if b, ok := f.pages.Load(key); ok {
		return b.([]byte)
	}
	var b bytes.Buffer
	for j := range count {
		k := (offset + j) % len(f.observations)
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"fullUrl":"http://` + host + FHIRPrefix + `/Observation/` + f.obsIDs[k] + `","resource":`)
		b.Write(f.observations[k])
		b.WriteString(`,"search":{"mode":"match"}}`)
	}
	f.pages.Store(key, b.Bytes())
	return b.Bytes()
}
