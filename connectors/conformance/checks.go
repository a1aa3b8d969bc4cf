package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
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
	{"writes", (*kit).checkWrites},
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
		tpl := connectors.TemplateFor(k.templates, t.resource)
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
