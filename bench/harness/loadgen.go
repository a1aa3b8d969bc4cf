package harness

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Op is one logical operation of a workload: one request, or a chain of
// them (W4 follows five pages). i numbers the operations of a run, so an
// Op can rotate over ids, keys and connections deterministically.
type Op func(c *fasthttp.HostClient, i uint64) error

// statusError is an answer other than 200.
type statusError int

func (s statusError) Error() string { return "status " + strconv.Itoa(int(s)) }

// newClient is the load generator's client of one target: keep-alive
// connections, at most conns of them, requests waiting for a free one
// rather than failing (their wait counts in their latency).
func newClient(addr string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		MaxConns:                      conns,
		MaxConnWaitTimeout:            60 * time.Second,
		ReadTimeout:                   60 * time.Second,
		WriteTimeout:                  60 * time.Second,
		MaxIdleConnDuration:           5 * time.Minute,
		MaxResponseBodySize:           64 << 20,
		ReadBufferSize:                16 << 10,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		MaxIdemponentCallAttempts:     1,
	}
}

// Result is what one load phase measured.
type Result struct {
	OK, Err int
	// Window is the measured time: the closed loop's window, or the open
	// loop's schedule plus the tail of its last answers.
	Window time.Duration
	// lat holds the latency of each OK operation, sorted.
	lat []time.Duration
	// ClientCPU is the load generator's own CPU time over Window.
	ClientCPU time.Duration
	// Errors counts the failed operations by error text ("status 503",
	// a client error).
	Errors map[string]int
}

// RPS is successful operations per second.
func (r *Result) RPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.OK) / r.Window.Seconds()
}

// Quantile returns the q-quantile (0..1) of the latencies, 0 if none.
func (r *Result) Quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(q * float64(len(r.lat)-1))
	return r.lat[i]
}

// latencies collects durations from many goroutines, and tallies errors.
type latencies struct {
	mu   sync.Mutex
	lat  []time.Duration
	errs map[string]int
}

func (l *latencies) fail(err error) {
	l.mu.Lock()
	if l.errs == nil {
		l.errs = map[string]int{}
	}
	var se statusError
	key := err.Error()
	if !errors.As(err, &se) && len(key) > 60 {
		key = key[:60]
	}
	l.errs[key]++
	l.mu.Unlock()
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.lat = append(l.lat, d)
	l.mu.Unlock()
}

// Hooks let the runner take its server-side readings exactly at the edges
// of the measured window.
type Hooks struct {
	Start, Stop func()
}

func (h Hooks) start() {
	if h.Start != nil {
		h.Start()
	}
}

func (h Hooks) stop() {
	if h.Stop != nil {
		h.Stop()
	}
}

// ClosedLoop runs conc workers that each send the next operation as soon
// as the last is answered, for warm then d. Only the d window is measured:
// operations completed in it count towards the rate, and the latencies of
// those that started and ended in it are kept. This finds a target's
// capacity; its latencies suffer coordinated omission by construction and
// are reported as such.
func ClosedLoop(c *fasthttp.HostClient, op Op, conc int, warm, d time.Duration, h Hooks) *Result {
	var (
		next    atomic.Uint64
		t0      atomic.Int64 // the window's start in UnixNano; 0 before it
		stop    atomic.Bool
		ok, bad atomic.Int64
		lat     latencies
		wg      sync.WaitGroup
	)
	lat.lat = make([]time.Duration, 0, 1<<16)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := next.Add(1)
				start := time.Now()
				err := op(c, i)
				began := t0.Load()
				if began == 0 || stop.Load() {
					continue // warm-up, or after the window
				}
				if err != nil {
					bad.Add(1)
					lat.fail(err)
					continue
				}
				ok.Add(1)
				if start.UnixNano() >= began {
					lat.add(time.Since(start))
				}
			}
		}()
	}
	time.Sleep(warm)
	cpu0 := selfCPU()
	h.start()
	start := time.Now()
	t0.Store(start.UnixNano())
	time.Sleep(d)
	stop.Store(true)
	window := time.Since(start)
	h.stop()
	cpu1 := selfCPU()
	// Operations that ended before stop was set count, even if their
	// worker had not recorded them yet.
	wg.Wait()
	slices.Sort(lat.lat)
	return &Result{OK: int(ok.Load()), Err: int(bad.Load()), Window: window, lat: lat.lat, ClientCPU: cpu1 - cpu0, Errors: lat.errs}
}

// OpenLoop sends operations at a fixed rate for d, each due at its
// scheduled time whatever happened to the previous ones, and measures each
// latency from that scheduled time: a stalled target is charged for the
// whole time the operations waited (no coordinated omission). As in wrk2,
// a fixed pool of conc workers, one connection each, takes the due
// operations in schedule order; when all are busy the operations queue,
// and the queueing counts in their latency. A short closed-loop warm-up
// opens the connections first.
//
// Timer wake-ups are coarse (about 1 ms when the process is idle), so a
// send may leave up to that late and be charged for it: the same for every
// target, which is why added latency is taken over direct at the same
// rate.
func OpenLoop(c *fasthttp.HostClient, op Op, rate float64, conc int, warm, d time.Duration, h Hooks) *Result {
	if warm > 0 {
		ClosedLoop(c, op, conc, 0, warm, Hooks{})
	}
	type job struct {
		i     uint64
		sched time.Time
	}
	total := max(int(rate*d.Seconds()), 1)
	jobs := make(chan job, total+1)
	var (
		lat     latencies
		ok, bad atomic.Int64
		wg      sync.WaitGroup
	)
	lat.lat = make([]time.Duration, 0, total+16)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				err := op(c, j.i)
				d := time.Since(j.sched)
				if err != nil {
					bad.Add(1)
					lat.fail(err)
					continue
				}
				ok.Add(1)
				lat.add(d)
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / rate)
	cpu0 := selfCPU()
	h.start()
	t0 := time.Now()
	for sent := 0; sent < total; {
		due := min(int(time.Since(t0)/interval)+1, total)
		for ; sent < due; sent++ {
			jobs <- job{i: uint64(sent), sched: t0.Add(time.Duration(sent) * interval)}
		}
		if sent < total {
			// Sleep, never spin: with one P, a spinning scheduler would
			// delay the network poller, and so every answer.
			time.Sleep(time.Until(t0.Add(time.Duration(sent) * interval)))
		}
	}
	close(jobs)
	wg.Wait()
	window := max(time.Since(t0), d)
	h.stop()
	cpu1 := selfCPU()
	slices.Sort(lat.lat)
	return &Result{OK: int(ok.Load()), Err: int(bad.Load()), Window: window, lat: lat.lat, ClientCPU: cpu1 - cpu0, Errors: lat.errs}
}
