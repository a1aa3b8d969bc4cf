package sdktest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ferryhealth/ferry/connectors/internal/txtar"
)

// A recording is a txtar file with one section per exchange. The section's
// name is the request, as the connector gave it (method, relative path and
// query); its content is the source's answer in HTTP/1.1 wire form:
//
//	# Recorded from the vendor's sandbox; synthetic data only.
//	-- GET Patient?family=Doe&_count=2 --
//	HTTP/1.1 200 OK
//	Content-Type: application/fhir+json
//
//	{"resourceType":"Bundle", …}
//	-- GET Patient/404 --
//	HTTP/1.1 404 Not Found
//
// Query parameters match in any order. Files are easy to write by hand and
// are what Recorder writes.

// Replayer is an http.Handler that answers from recordings. A request with
// no recorded answer gets 501 and is listed by Misses, which a Harness
// reports as a test failure.
type Replayer struct {
	answers map[string]recorded

	mu     sync.Mutex
	misses []string
}

type recorded struct {
	status int
	header http.Header
	body   []byte
}

// Replay loads recordings from files.
func Replay(files ...string) (*Replayer, error) {
	r := &Replayer{answers: map[string]recorded{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("sdktest: %w", err)
		}
		if err := r.add(f, data); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Replayer) add(file string, data []byte) error {
	for _, sec := range txtar.Parse(data).Files {
		key, err := requestKey(sec.Name)
		if err != nil {
			return fmt.Errorf("sdktest: %s: section %q: %w", file, sec.Name, err)
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(sec.Data)), nil)
		if err != nil {
			return fmt.Errorf("sdktest: %s: section %q: not an HTTP response: %w", file, sec.Name, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("sdktest: %s: section %q: %w", file, sec.Name, err)
		}
		r.answers[key] = recorded{status: res.StatusCode, header: res.Header, body: body}
	}
	return nil
}

// requestKey normalises "METHOD path?query" so that query order does not
// matter.
func requestKey(name string) (string, error) {
	method, target, ok := strings.Cut(strings.TrimSpace(name), " ")
	if !ok || method == "" || target == "" {
		return "", fmt.Errorf("want \"METHOD path[?query]\"")
	}
	path, rawQuery, _ := strings.Cut(target, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	var pairs []string
	for name, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, url.QueryEscape(name)+"="+url.QueryEscape(v))
		}
	}
	slices.Sort(pairs)
	return method + " " + path + "?" + strings.Join(pairs, "&"), nil
}

// ServeHTTP answers from the recordings, addressed under DefaultBaseURL (the
// URL path minus its leading slash is the connector's relative path).
func (r *Replayer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	name := req.Method + " " + strings.TrimPrefix(req.URL.EscapedPath(), "/")
	if req.URL.RawQuery != "" {
		name += "?" + req.URL.RawQuery
	}
	key, err := requestKey(name)
	a, ok := r.answers[key]
	if err != nil || !ok {
		r.mu.Lock()
		r.misses = append(r.misses, name)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNotImplemented)
		return
	}
	for k, vs := range a.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(a.status)
	w.Write(a.body)
}

// Misses returns the requests that had no recorded answer.
func (r *Replayer) Misses() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.misses...)
}

// Recorder writes the exchanges of a Transport to a recording file, for a
// test run against a live sandbox once and replayed from then on.
type Recorder struct {
	mu  sync.Mutex
	ar  txtar.Archive
	err error
}

// Record starts recording t's exchanges; Write saves them. Only the headers
// the host passes to connectors are kept.
func Record(t *Transport, comment string) *Recorder {
	rec := &Recorder{}
	if comment != "" {
		rec.ar.Comment = []byte("# " + strings.ReplaceAll(strings.TrimSpace(comment), "\n", "\n# ") + "\n")
	}
	t.Observe(rec.observe)
	return rec
}

func (r *Recorder) observe(ex Exchange) {
	if ex.Response == nil {
		return
	}
	method := ex.Request.Method
	if method == "" {
		method = http.MethodGet
	}
	name := method + " " + ex.Request.Path
	if q := encodeQuery(ex.Request.Query); q != "" {
		name += "?" + q
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\n", ex.Response.Status, http.StatusText(ex.Response.Status))
	for _, h := range ex.Response.Header {
		if !strings.EqualFold(h.Name, "Content-Length") {
			fmt.Fprintf(&b, "%s: %s\n", h.Name, h.Value)
		}
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(ex.Response.Body)) + "\n\n")
	b.Write(ex.Response.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if bytes.Contains(ex.Response.Body, []byte("\n-- ")) || bytes.HasPrefix(ex.Response.Body, []byte("-- ")) {
		r.err = fmt.Errorf("sdktest: the answer to %s holds a txtar marker line and cannot be recorded", name)
		return
	}
	r.ar.Set(name, b.Bytes())
}

// Write saves the recording to file.
func (r *Recorder) Write(file string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	return os.WriteFile(file, r.ar.Format(), 0o644)
}

var _ http.Handler = (*Replayer)(nil)
