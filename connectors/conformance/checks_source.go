package conformance

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ferryhealth/ferry/connectors"
)

// The checks of a connector facing a failing source: error statuses,
// malformed answers, and the request's deadline.

// errorBody is what a source typically sends with an error status.
var errorBody = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"conformance"}],"error":"conformance"}`)

func (k *kit) checkUpstreamStatus() Result {
	if why := k.ready(); why != "" {
		return skip(why)
	}
	var p problems
	for _, t := range k.targets {
		label := t.String()
		// The first answer tells whether this operation goes through the
		// HTTP Transport at all.
		o := k.do(t, label+", source answered 404", answer(404, "application/json", errorBody), k.o.CallTimeout)
		if n, _ := o.call.snapshot(); n == 0 {
			k.calls[label] = false
			continue
		}
		k.calls[label] = true
		k.httpTargets = append(k.httpTargets, t)
		want := []string{"not_found"}
		if t.op == "search" {
			// A search that finds nothing is an empty page; a 404 means
			// the endpoint or page is gone.
			want = []string{"upstream", "source_unavailable"}
		}
		if !o.is(want...) {
			p.add("%s, source answered 404, gave %s; want %s", label, o.describe(), strings.Join(want, " or "))
		}
		for _, st := range []int{401, 403, 429, 500, 502, 503} {
			l := fmt.Sprintf("%s, source answered %d", label, st)
			if o := k.do(t, l, answer(st, "application/json", errorBody), k.o.CallTimeout); !o.is("upstream", "source_unavailable") {
				p.add("%s gave %s; want upstream (the host owns credentials and retries: to the client it is the source failing)", l, o.describe())
			}
		}
		for _, code := range []connectors.ErrorCode{connectors.CodeSourceUnavailable, connectors.CodeCredentialsUnavailable, connectors.CodeUpstream} {
			want := code.String()
			l := fmt.Sprintf("%s, Transport failed with %s", label, want)
			if o := k.do(t, l, fail(code), k.o.CallTimeout); !o.is(want) {
				p.add("%s gave %s; return the Transport's error as it is", l, o.describe())
			}
		}
	}
	if len(k.httpTargets) == 0 {
		return skip("no operation used the HTTP Transport (Transport.Do): nothing to feed answers to")
	}
	r := p.result("upstream_status", fmt.Sprintf("%d operation(s) through the Transport: a 404 read is not_found; 401, 403, 429 and 5xx are upstream; Transport errors come back with their own code", len(k.httpTargets)))
	if skipped := len(k.targets) - len(k.httpTargets); skipped > 0 && r.Status == Pass {
		r.Reason += fmt.Sprintf(" (%d operation(s) made no HTTP request)", skipped)
	}
	return r
}

// malformedBody is an answer no mapping can take. Each must give upstream
// (or, for a lenient mapper, a valid record), never a panic, a crash or a
// hang.
type malformedBody struct {
	name        string
	contentType string
	body        []byte
	huge        bool
}

// malformed returns the answers, made once per process: the huge ones take
// a while to build.
var malformed = sync.OnceValue(func() []malformedBody {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	bundle := []byte(`{"resourceType":"Bundle","type":"searchset","total":3,"link":[{"relation":"next","url":"Patient?page=2"}],"entry":[{"fullUrl":"x","resource":{"resourceType":"Patient","id":"p1","name":[{"family":"Do`)
	var hugeBundle bytes.Buffer
	hugeBundle.WriteString(`{"resourceType":"Bundle","type":"searchset","entry":[`)
	for i := 0; hugeBundle.Len() < 16<<20-128; i++ {
		if i > 0 {
			hugeBundle.WriteByte(',')
		}
		fmt.Fprintf(&hugeBundle, `{"resource":{"resourceType":"Patient","id":"p%d","items":[%d],"data":"%s"}}`, i, i, strings.Repeat("x", 200))
	}
	hugeBundle.WriteString(`]}`)
	hugeString := append(append([]byte(`{"resourceType":"Patient","id":"p1","name":[{"family":"`), bytes.Repeat([]byte("a"), 16<<20-128)...), `"}]}`...)
	return []malformedBody{
		{"an empty body", "application/json", nil, false},
		{"text that is not JSON", "application/json", []byte("this is not JSON"), false},
		{"an HTML error page", "text/html", []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"), false},
		{"XML", "application/xml", []byte(`<?xml version="1.0"?><Patient xmlns="http://hl7.org/fhir"><id value="1"/></Patient>`), false},
		{"truncated JSON", "application/json", bundle, false},
		{"JSON null", "application/json", []byte("null"), false},
		{"a JSON array", "application/json", []byte(`[1,2,3]`), false},
		{"an empty JSON object", "application/json", []byte(`{}`), false},
		{"wrongly typed fields", "application/json", []byte(`{"resourceType":7,"id":{"a":1},"entry":"x","total":"many","link":[1],"name":"x","birthDate":true,"code":[],"subject":5,"status":[null],"items":{"x":1},"data":-1}`), false},
		{"100,000 nested arrays", "application/json", append(bytes.Repeat([]byte("["), 100000), bytes.Repeat([]byte("]"), 100000)...), false},
		{"100,000 nested objects", "application/json", append(bytes.Repeat([]byte(`{"a":`), 100000), append([]byte("1"), bytes.Repeat([]byte("}"), 100000)...)...), false},
		{"invalid UTF-8", "application/json", []byte("{\"resourceType\":\"Patient\",\"id\":\"p\xff\xfe\",\"name\":[{\"family\":\"\xc3\x28\"}]}"), false},
		{"random bytes", "application/octet-stream", random, false},
		{"a 16 MiB Bundle", "application/json", hugeBundle.Bytes(), true},
		{"a 16 MiB string", "application/json", hugeString, true},
	}
})

func (k *kit) checkMalformed() Result {
	if why := k.ready(); why != "" {
		return skip(why)
	}
	if len(k.httpTargets) == 0 {
		return skip("no operation used the HTTP Transport (see upstream_status)")
	}
	var p problems
	bodies := malformed()
	hugeDone := map[string]int{}
	calls := 0
	// Findings are grouped by operation and outcome: a mapper that panics
	// on every malformed answer is one problem, with the answers listed.
	type finding struct {
		target, outcome string
		answers         []string
	}
	var findings []*finding
	note := func(t target, outcome, answer string) {
		for _, f := range findings {
			if f.target == t.String() && f.outcome == outcome {
				f.answers = append(f.answers, answer)
				return
			}
		}
		findings = append(findings, &finding{target: t.String(), outcome: outcome, answers: []string{answer}})
	}
	for _, t := range k.httpTargets {
		for _, b := range bodies {
			if b.huge {
				// Huge answers cost time (a second or so each): one read
				// and one search get them.
				if hugeDone[t.op] >= 1 {
					continue
				}
				hugeDone[t.op]++
			}
			label := fmt.Sprintf("%s, source answered %s", t, b.name)
			o := k.do(t, label, answer(200, b.contentType, b.body), k.o.CallTimeout)
			calls++
			if !o.is("ok", "upstream") {
				note(t, o.describe(), b.name)
			}
			if k.dead != "" {
				break
			}
		}
		if k.dead != "" {
			break
		}
	}
	for _, f := range findings {
		p.add("%s: %s for %s; want upstream", f.target, f.outcome, strings.Join(f.answers, ", "))
	}
	return p.result("malformed_upstream", fmt.Sprintf("%d calls with %d kinds of malformed, truncated and huge (16 MiB, on one read and one search) answers: upstream or a valid record, no panic, crash or hang", calls, len(bodies)))
}

func (k *kit) checkDeadline() Result {
	if why := k.ready(); why != "" {
		return skip(why)
	}
	if len(k.httpTargets) == 0 {
		return skip("no operation used the HTTP Transport (see upstream_status)")
	}
	t := k.httpTargets[0]
	d, m := k.o.Deadline, k.o.Margin
	var p problems

	// A source that never answers, under a request deadline d: the
	// plugin's Transport request must carry the deadline and end with it.
	label := fmt.Sprintf("%s, source hangs, deadline %v", t, d)
	o := k.do(t, label, hang, d)
	if requests, _ := o.call.snapshot(); requests == 0 {
		p.add("%s: the plugin made no Transport request this time", label)
	}
	if !o.call.waitIdle(m) {
		p.add("%s: the Transport request was still open %v after the deadline: the plugin does not abandon work when its caller gives up", label, m)
	}
	if o.took > d+m {
		p.add("%s: answered after %v", label, o.took.Round(time.Millisecond))
	}

	// The host transport giving up at d with upstream_timeout, while the
	// host waits d+m: the plugin must pass the timeout on, promptly.
	label = fmt.Sprintf("%s, Transport times out after %v", t, d)
	o = k.do(t, label, timeoutAfter(d), d+m)
	switch {
	case o.is("no answer"):
		p.add("%s: no answer within the deadline plus %v: does the plugin retry, or wait on something else?", label, m)
	case !o.is("upstream_timeout"):
		p.add("%s: gave %s; want upstream_timeout (return the Transport's error as it is)", label, o.describe())
	}
	took := o.took
	return p.result("deadline", fmt.Sprintf("%s: the request's deadline reached Transport.Do and the request ended with it; a Transport timeout after %v came back as upstream_timeout after %v (limit %v)",
		t, d, took.Round(time.Millisecond), d+m))
}
