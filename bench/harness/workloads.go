package harness

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"
)

// patientIDs is how many distinct ids the reads rotate over.
const patientIDs = 64

// obsPatient is the patient whose observations the searches ask for.
const obsPatient = "bench-patient-1"

// Workload is one kind of traffic, with what each target is sent for it.
type Workload struct {
	Name, Desc string
	// Latency adds the c=1 and 50%-of-capacity open-loop phases.
	Latency bool
	// Conc is the capacity probe's concurrency; 0 takes Options.Conc.
	Conc int
	// PerOp names what one operation is, when it is not one request.
	PerOp string
	// op returns what t is sent, nil when the workload does not run on t.
	op func(t *Target) Op
}

// Workloads are the W1–W6 (W5's targets are Ferry processes with
// 1, 100, 1,000 and 10,000 tenants; W6's in-flight count is an option).
func Workloads(o *Options) []*Workload {
	return []*Workload{
		{Name: "W1", Desc: "read a patient by id", Latency: true, op: func(t *Target) Op {
			if t.w5 {
				return nil
			}
			return readOp(t, "", 0)
		}},
		{Name: "W2", Desc: "search observations, 20 per page", Latency: true, op: func(t *Target) Op {
			if t.w5 {
				return nil
			}
			return searchOp(t, 20, 1)
		}},
		{Name: "W3", Desc: "search observations, 200 per page", Latency: true, op: func(t *Target) Op {
			if t.w5 {
				return nil
			}
			return searchOp(t, 200, 1)
		}},
		{Name: "W4", Desc: "follow 5 pages of cursors (20 per page)", PerOp: "5-page walk", op: func(t *Target) Op {
			if t.w5 {
				return nil
			}
			return searchOp(t, 20, 5)
		}},
		{Name: "W5", Desc: "read a patient, rotating over N API keys and connections", op: func(t *Target) Op {
			if t.Kind == KindFastProxy || t.Kind == KindInProcess || t.Kind == KindFerry && !t.w5 {
				return nil
			}
			return readOp(t, "", -1)
		}},
		{Name: "W6", Desc: "read a patient from a source answering in 50 ms, " + strconv.Itoa(o.W6InFlight) + " in flight",
			Conc: o.W6InFlight, op: func(t *Target) Op {
				if t.w5 {
					return nil
				}
				// Its own tenant and connection: W6 may open the
				// connection's breaker, which must not spill into the
				// next round's W1.
				return readOp(t, SlowPrefix, 1)
			}},
	}
}

// request sends one GET and returns its status; fn, when not nil, sees the
// body before it is released.
func request(c *fasthttp.HostClient, path, auth string, fn func(body []byte)) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(path)
	req.Header.SetHost(c.Addr)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if err := c.Do(req, resp); err != nil {
		return err
	}
	if sc := resp.StatusCode(); sc != 200 {
		return statusError(sc)
	}
	if fn != nil {
		fn(resp.Body())
	}
	return nil
}

// auths returns the Authorization header of each of a target's tenants
// (none for the pass-through targets).
func auths(t *Target) []string {
	if !t.api() {
		return []string{""}
	}
	a := make([]string, t.Tenants)
	for i := range a {
		a[i] = "Bearer " + APIKey(i)
	}
	return a
}

// readOp reads patient ids in turn, through a Ferry target's tenant
// number tenant, or rotating over all its tenants' keys and connections
// when tenant is -1.
func readOp(t *Target, idPrefix string, tenant int) Op {
	keys := auths(t)
	first := 0
	if tenant >= 0 && tenant < len(keys) {
		first, keys = tenant, keys[tenant:tenant+1]
	}
	paths := make([][]string, len(keys))
	for k := range keys {
		paths[k] = make([]string, patientIDs)
		for j := range patientIDs {
			id := idPrefix + "p-" + strconv.Itoa(j)
			if t.api() {
				paths[k][j] = "/v1/" + ConnID(first+k) + "/patients/" + id
			} else {
				paths[k][j] = FHIRPrefix + "/Patient/" + id
			}
		}
	}
	return func(c *fasthttp.HostClient, i uint64) error {
		k := int(i % uint64(len(keys)))
		return request(c, paths[k][int(i/uint64(len(keys))%patientIDs)], keys[k], nil)
	}
}

var (
	fhirNext    = []byte(`{"relation":"next","url":"`)
	ferryCursor = []byte(`"next_cursor":"`)
	errNoNext   = errors.New("page without a next link")
)

// searchOp searches observations, count per page, following pages links
// (a FHIR next link through the pass-through targets, a sealed cursor
// through Ferry).
func searchOp(t *Target, count, pages int) Op {
	auth := auths(t)[0]
	var first string
	if t.api() {
		first = "/v1/" + ConnID(0) + "/observations?patient_id=" + obsPatient + "&limit=" + strconv.Itoa(count)
	} else {
		first = FHIRPrefix + "/Observation?patient=" + obsPatient + "&_count=" + strconv.Itoa(count)
	}
	cursorBase := "/v1/" + ConnID(0) + "/observations?cursor="
	next := func(body []byte) string {
		if t.api() {
			_, after, ok := bytes.Cut(body, ferryCursor)
			if !ok {
				return ""
			}
			cur, _, _ := bytes.Cut(after, []byte{'"'})
			return cursorBase + string(cur)
		}
		_, after, ok := bytes.Cut(body, fhirNext)
		if !ok {
			return ""
		}
		u, _, _ := bytes.Cut(after, []byte{'"'})
		// Absolute, with whatever Host the fixture was reached by: keep the
		// path and query.
		if i := bytes.Index(u, []byte(FHIRPrefix)); i >= 0 {
			return string(u[i:])
		}
		return ""
	}
	return func(c *fasthttp.HostClient, i uint64) error {
		path := first
		for p := range pages {
			var nextPath string
			fn := func(body []byte) {}
			if p < pages-1 {
				fn = func(body []byte) { nextPath = next(body) }
			}
			if err := request(c, path, auth, fn); err != nil {
				return err
			}
			if p < pages-1 {
				if nextPath == "" {
					return errNoNext
				}
				path = nextPath
			}
		}
		return nil
	}
}
