package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/ferryhealth/ferry/connectors"
	pb "github.com/ferryhealth/ferry/connectors/proto/connectorv2"
	"github.com/ferryhealth/ferry/unified"
)

// checks run in this order after the handshake; the network check closes
// the report. Later checks use what earlier ones learnt (the manifest, which
// operations reach the Transport).
var checks = []struct {
	name string
	run  func(*kit) Result
}{
	{"manifest", (*kit).checkManifest},
	{"configure", (*kit).checkConfigure},
	{"unknown_resource", (*kit).checkUnknownResource},
	{"bad_input", (*kit).checkBadInput},
	{"upstream_status", (*kit).checkUpstreamStatus},
	{"malformed_upstream", (*kit).checkMalformed},
	{"deadline", (*kit).checkDeadline},
	{"templates", (*kit).checkTemplates},
	{"exchange", (*kit).checkExchange},
	{"records", (*kit).checkRecords},
	{"transport_rules", (*kit).checkTransportRules},
	{"process", (*kit).checkProcess},
}

func skip(reason string) Result { return Result{Status: Skip, Reason: reason} }

// ready says why the behavioural checks cannot run, or "".
func (k *kit) ready() string {
	switch {
	case k.meta == nil:
		return "no manifest (see manifest)"
	case len(k.targets) == 0:
		return "the manifest offers no operation on a known resource"
	case !k.configured:
		return "the connection could not be configured (see configure)"
	}
	return ""
}

func (k *kit) checkManifest() Result {
	ctx, cancel := context.WithTimeout(context.Background(), k.o.CallTimeout)
	defer cancel()
	m, err := k.p.rpc.Metadata(ctx, &pb.MetadataRequest{})
	if err != nil {
		if s, ok := status.FromError(err); ok && s.Message() == connectors.PanicMessage {
			return Result{Status: Fail, Reason: "Metadata panicked"}
		}
		return Result{Status: Fail, Reason: fmt.Sprintf("Metadata failed: %v", err)}
	}
	k.meta, k.rep.Kind = m, m.GetKind()
	var p problems
	if m.GetProtocolVersion() != connectors.ProtocolVersion {
		p.add("the manifest reports protocol_version %d; this host speaks v%d (connectors.Serve fills it in: is the plugin built with the SDK?)", m.GetProtocolVersion(), connectors.ProtocolVersion)
	}
	if k.o.Kind != "" && m.GetKind() != k.o.Kind {
		p.add("kind %q, but %q was expected: the host refuses a plugin whose kind differs from its catalog entry", m.GetKind(), k.o.Kind)
	}
	cm := &connectors.MetadataResponse{Kind: m.GetKind(), Version: m.GetVersion(), AuthKinds: m.GetAuthKinds()}
	reads, searches := 0, 0
	for _, r := range m.GetResources() {
		rc := connectors.ResourceCapability{Resource: unified.ResourceType(r.GetResource()), Read: r.GetRead(), Search: r.GetSearch(),
			SearchParams: r.GetSearchParams(), RequiredParams: r.GetRequiredParams()}
		cm.Resources = append(cm.Resources, rc)
		if !rc.Resource.Known() {
			continue
		}
		if rc.Read {
			reads++
			k.targets = append(k.targets, target{op: "read", resource: rc.Resource, id: "conformance-1"})
		}
		if rc.Search {
			searches++
			params := map[string]string{}
			for _, name := range rc.RequiredParams {
				params[name] = sampleValue(name)
			}
			k.targets = append(k.targets, target{op: "search", resource: rc.Resource, params: params})
		}
	}
	if err := cm.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			p.add("%s", line)
		}
	}
	return p.result("manifest", fmt.Sprintf("kind %s, version %s, protocol v%d; %d resource(s): %d readable, %d searchable; filter names valid, required ⊆ declared",
		m.GetKind(), m.GetVersion(), m.GetProtocolVersion(), len(m.GetResources()), reads, searches))
}

func (k *kit) configure(conn string, settings []byte) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), k.o.CallTimeout)
	defer cancel()
	start := time.Now()
	r, err := k.p.rpc.Configure(ctx, &pb.ConfigureRequest{ConnectionId: conn, Settings: settings})
	o := outcome{rpcErr: err, took: time.Since(start)}
	if err == nil {
		if werr := connectors.ErrorFromWire(r.GetError()); werr != nil {
			o.werr, o.panicked = werr.(*connectors.Error), r.GetError().GetPanicked()
		} else if conn == connID {
			k.templates = connectors.TemplatesFromWire(r.GetTemplates())
		}
	}
	return o
}

func (k *kit) checkConfigure() Result {
	var p problems
	if o := k.configure(connID, k.o.Settings); o.code() != "ok" {
		p.add("Configure with the given settings gave %s: give the settings the connector needs (Options.Settings, --settings)", o.describe())
	} else {
		k.configured = true
	}
	// Strict decoding: a misspelt setting must fail when the config loads,
	// not be silently ignored until a request behaves oddly.
	unknown := []byte(`{"conformance_unknown_setting":true}`)
	var obj map[string]json.RawMessage
	if json.Unmarshal(k.o.Settings, &obj) == nil && obj != nil {
		obj["conformance_unknown_setting"] = json.RawMessage("true")
		unknown, _ = json.Marshal(obj)
	}
	for i, bad := range []struct{ what, settings string }{
		{"with an unknown field", string(unknown)},
		{"that are a JSON array", `[]`},
		{"that are a JSON string", `"conformance"`},
	} {
		o := k.configure(fmt.Sprintf("conformance-strict-%d", i), []byte(bad.settings))
		if !o.is("invalid_argument") {
			p.add("settings %s gave %s; want invalid_argument (decode settings strictly, with DisallowUnknownFields)", bad.what, o.describe())
		}
	}
	return p.result("configure", "the connection configured with the given settings; settings with an unknown field, an array and a string were refused with invalid_argument")
}

// emptyOK is a neutral answer for calls that should not need the source.
var emptyOK = answer(200, "application/json", []byte(`{}`))

func (k *kit) checkUnknownResource() Result {
	if k.meta == nil || !k.configured {
		return skip(k.ready())
	}
	offered := map[string]bool{}
	for _, r := range k.meta.GetResources() {
		offered[r.GetResource()] = true
	}
	resources := []unified.ResourceType{"conformance_bogus"}
	for _, r := range unified.ResourceTypes() {
		if !offered[string(r)] {
			resources = append(resources, r)
			break
		}
	}
	var p problems
	for _, r := range resources {
		for _, t := range []target{{op: "read", resource: r, id: "conformance-1"}, {op: "search", resource: r}} {
			label := t.op + " " + string(r)
			o := k.do(t, label, emptyOK, k.o.CallTimeout)
			if !o.is("unsupported") {
				p.add("%s (not in the manifest) gave %s; want unsupported", label, o.describe())
			}
			if n, _ := o.call.snapshot(); n > 0 {
				p.add("%s (not in the manifest) called the source", label)
			}
		}
	}
	return p.result("unknown_resource", fmt.Sprintf("read and search of %s answered unsupported without calling the source", joinResources(resources)))
}

func joinResources(rs []unified.ResourceType) string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r))
	}
	return strings.Join(s, " and ")
}

func (k *kit) first(op string) (target, bool) {
	for _, t := range k.targets {
		if t.op == op {
			return t, true
		}
	}
	return target{}, false
}

func (k *kit) checkBadInput() Result {
	if why := k.ready(); why != "" {
		return skip(why)
	}
	var p problems
	var did []string
	typed := func(label string, o outcome, allowInternal bool) {
		switch {
		case o.is("panic", "no answer"):
			p.add("%s gave %s", label, o.describe())
		case o.is("internal") && !allowInternal:
			p.add("%s gave internal (a bug, to the host); want a typed code: invalid_argument for a bad parameter or page token", label)
		}
	}
	for _, t := range k.targets {
		if t.op != "search" || len(t.params) == 0 {
			continue
		}
		bare := t
		bare.params = nil
		label := fmt.Sprintf("search %s without its required %s", t.resource, strings.Join(slices.Sorted(maps.Keys(t.params)), ", "))
		o := k.do(bare, label, emptyOK, k.o.CallTimeout)
		if !o.is("invalid_argument", "unsupported") {
			p.add("%s gave %s; want invalid_argument (the host refuses such a search first, but the connector must not send an unbounded one either)", label, o.describe())
		}
		did = append(did, "missing required filters")
	}
	if t, ok := k.first("search"); ok {
		u := t
		u.params = map[string]string{"conformance_undeclared": "x"}
		for n, v := range t.params {
			u.params[n] = v
		}
		typed("search "+string(t.resource)+" with an undeclared parameter", k.do(u, "search "+string(t.resource)+" with an undeclared parameter", emptyOK, k.o.CallTimeout), false)
		g := t
		g.token = "!!conformance:not-a-page-token!!"
		typed("search "+string(t.resource)+" with a garbage page token", k.do(g, "search "+string(t.resource)+" with a garbage page token", emptyOK, k.o.CallTimeout), false)
		did = append(did, "an undeclared parameter", "a garbage page token")
	}
	for _, t := range k.targets[:1] {
		n := t
		n.conn = "conformance-never-configured"
		label := t.op + " " + string(t.resource) + " on a connection never configured"
		typed(label, k.do(n, label, emptyOK, k.o.CallTimeout), true)
		did = append(did, "a connection never configured")
	}
	return p.result("bad_input", "typed errors, no panic, for "+strings.Join(dedupe(did), ", "))
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

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

func (k *kit) checkRecords() Result {
	if k.upstream != nil && k.ready() == "" {
		k.sample()
	}
	if k.recordsChecked == 0 {
		if k.upstream == nil {
			return skip("no call returned a record; give a realistic source (Options.Upstream, or --recordings) to check the mappings")
		}
		return skip("no call against the given source returned a record")
	}
	src := "the kit's answers"
	if k.upstream != nil {
		src = "the given source and the kit's answers"
	}
	return k.records.result("records", fmt.Sprintf("%d record(s) from %s decode strictly into their unified types, with readable ids and provenance", k.recordsChecked, src))
}

// sample exercises every operation against Options.Upstream: searches
// first, then reads of what they found, and searches that require a
// patient with a patient found.
func (k *kit) sample() {
	fwd := forward(k.upstream)
	ids := map[unified.ResourceType][]string{}
	search := func(t target) {
		label := t.String() + " against the given source"
		o := k.do(t, label, fwd, k.o.CallTimeout)
		if !o.is("ok") {
			k.records.add("%s gave %s", label, o.describe())
			return
		}
		for _, rec := range o.records {
			var v struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(rec, &v) == nil && v.ID != "" {
				ids[t.resource] = append(ids[t.resource], v.ID)
			}
		}
	}
	for _, t := range k.targets {
		if t.op == "search" && len(t.params) == 0 {
			search(t)
		}
	}
	for _, t := range k.targets {
		if t.op != "search" || len(t.params) == 0 {
			continue
		}
		if _, ok := t.params[unified.FilterPatientID]; len(t.params) == 1 && ok && len(ids[unified.Patients]) > 0 {
			t.params = map[string]string{unified.FilterPatientID: ids[unified.Patients][0]}
			search(t)
		}
	}
	for _, t := range k.targets {
		if t.op != "read" || len(ids[t.resource]) == 0 {
			continue
		}
		t.id = ids[t.resource][0]
		label := fmt.Sprintf("read %s (an id its search returned) against the given source", t.resource)
		if o := k.do(t, label, fwd, k.o.CallTimeout); !o.is("ok") {
			k.records.add("%s gave %s", label, o.describe())
		}
	}
}

// forward answers from the given source, through an sdktest Transport.
func forward(tr connectors.Transport) script {
	return tr.Do
}

func (k *kit) checkTransportRules() Result {
	requests := k.ft.stats()
	if requests == 0 {
		return skip("the plugin made no Transport request")
	}
	k.ft.mu.Lock()
	v := k.ft.violations
	k.ft.mu.Unlock()
	return v.result("transport_rules", fmt.Sprintf("%d Transport request(s): relative paths, GET or HEAD, only headers the host passes on", requests))
}

func (k *kit) checkProcess() Result {
	// Let anything the plugin does in the background after its calls
	// reach the Transport before counting.
	time.Sleep(200 * time.Millisecond)
	var p problems
	if k.p.exited() {
		p.add("the plugin process exited%s", k.p.stderr.excerpt())
	}
	if err := k.p.conn.Err(); err != nil {
		p.add("the data plane ended: %v (the plugin broke the frame protocol, or closed its end)", err)
	}
	return p.result("process", fmt.Sprintf("pid %d still running after every check, its data plane open", k.p.pid))
}

func (k *kit) checkTemplates() Result {
	if why := k.ready(); why != "" {
		return skip(why)
	}
	if len(k.templates) == 0 {
		return skip("Configure returned no source template: every source request goes in-band, one more round trip between the processes per call (see connectors.SourceTemplate)")
	}
	var p problems
	n := 0
	for _, t := range k.targets {
		var tpl *connectors.SourceTemplate
		for i := range k.templates {
			if k.templates[i].Resource == t.resource {
				tpl = &k.templates[i]
			}
		}
		if tpl == nil {
			continue
		}
		var req *connectors.HTTPRequest
		var ok bool
		if t.op == "read" {
			req, ok = tpl.Read.ReadRequest(t.id)
		} else {
			req, ok = tpl.Search.SearchRequest(t.params, 10)
		}
		if !ok {
			continue
		}
		n++
		resp, _ := emptyOK(context.Background(), req)
		label := t.String() + " with the template's source answer"
		o := k.call(t, label, emptyOK, nil, &connectors.Prefetched{Request: req, Response: resp}, k.o.CallTimeout)
		if !o.prefetchUsed {
			first := "none"
			if o.call.first != nil {
				first = describeRequest(o.call.first)
			}
			p.add("%s: the template's request %s is not the connector's first request (%s): the host would make a source request the connector does not use", label, describeRequest(req), first)
		}
	}
	if n == 0 {
		return skip("the templates cover none of the manifest's operations with the kit's sample values")
	}
	return p.result("templates", fmt.Sprintf("%d templated operation(s): the connector's first source request was exactly the template's, answered from the host's prefetch", n))
}

// describeRequest writes a request as method, path and query, for a
// problem line (the kit's sample values only: no PHI).
func describeRequest(r *connectors.HTTPRequest) string {
	var b strings.Builder
	m := r.Method
	if m == "" {
		m = "GET"
	}
	b.WriteString(m + " " + clip(r.Path))
	for i, q := range r.Query {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(clip(q.Name) + "=" + clip(q.Value))
	}
	for _, h := range r.Header {
		b.WriteString(" [" + clip(h.Name) + ": " + clip(h.Value) + "]")
	}
	return b.String()
}
