package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/ferryhealth/ferry/docs"
	"github.com/ferryhealth/ferry/unified"
)

// Document returns the committed OpenAPI document (docs/openapi.json), which
// TestOpenAPIUpToDate keeps equal to what Generate makes of the current
// types. The slice is shared: callers must not modify it.
func Document() []byte { return docs.OpenAPI }

// Generate builds the OpenAPI 3.1 document of the unified API, version
// being the API's version (info.version), from the types of package
// unified and the doc comments of its source in srcDir. The output is
// deterministic: sorted keys, two-space indent, a trailing newline.
func Generate(srcDir, version string) ([]byte, error) {
	d, _, err := build(srcDir, version)
	if err != nil {
		return nil, err
	}
	return encode(d)
}

// encode writes v as indented JSON with sorted keys. Structs marshal in
// field order, so the document is decoded into maps and written again.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	e = json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(generic); err != nil { // Encode ends with a newline
		return nil, err
	}
	return out.Bytes(), nil
}

// errorStatuses are the statuses Ferry answers with a problem, on every
// operation but GET /v1/openapi.json.
var errorStatuses = []int{400, 401, 403, 404, 413, 421, 429, 500, 502, 503, 504}

const description = `Ferry is a zero-storage healthcare integration gateway: every answer is fetched live from the source system of a connection, and nothing is kept.

This API reads a connection's records as unified resources, flat JSON with FHIR R4 and US Core semantics; pages through searches with opaque cursors; and relays any other request to the source through passthrough.

Every record carries ` + "`id`" + ` (the source's logical id), a ` + "`source`" + ` provenance block and, with ` + "`raw=true`" + `, the untouched source record under ` + "`raw`" + `. Dates and date-times are strings exactly as precise as the source wrote them ("2024", "2024-03", "2024-03-07T10:15:00-05:00"). Codings keep their system URI; recognised systems also carry a short ` + "`system_name`" + `.

Errors are RFC 9457 problem details (` + "`application/problem+json`" + `) with a stable ` + "`code`" + `; they never carry the source's text or PHI.`

// build assembles the document and lists the unified types and fields that
// have no doc comment.
func build(srcDir, version string) (*document, []string, error) {
	pd, err := parseDocs(srcDir)
	if err != nil {
		return nil, nil, err
	}
	s := newSchemas(pd)
	d := &document{
		OpenAPI: "3.1.0",
		Info: info{
			Title: "Ferry unified healthcare API", Version: version, Description: description,
			License: &license{Name: "Apache License 2.0", Identifier: "Apache-2.0"},
		},
		// Relative: the document describes the deployment that serves it.
		// Each operator runs their own, one per region, so there is no
		// one absolute URL to name.
		Servers: []server{{
			URL:         "/",
			Description: "The Ferry deployment serving this document (`ferry demo` listens on http://127.0.0.1:8080).",
		}},
		Paths:    map[string]*pathItem{},
		Security: []securityReq{{"bearerAuth": {}}},
		Components: components{
			Schemas:    s.out,
			Parameters: map[string]*parameter{},
			Responses:  map[string]*response{},
			Headers:    commonHeaders(),
			SecuritySchemes: map[string]*securityScheme{"bearerAuth": {
				Type: "http", Scheme: "bearer",
				Description: "The client's API key, or an OAuth 2.0 JWT access token (RFC 9068) of its tenant's authorization server, sent as `Authorization: Bearer <key or token>`. A bad token is 401 with `WWW-Authenticate: Bearer error=\"invalid_token\"`; a request its SMART scopes or policy do not cover is 403 `insufficient_scope` (docs/authorization.md).",
			}},
		},
	}
	for name, p := range commonParameters() {
		d.Components.Parameters[name] = p
	}
	for _, f := range unified.StandardFilters() {
		d.Components.Parameters["filter_"+f.Name] = filterParameter(f, pd)
	}
	for _, st := range append(errorStatuses, changesOverflowStatus) {
		d.Components.Responses["Problem"+strconv.Itoa(st)] = problemResponse(st)
	}
	for _, t := range []reflect.Type{reflect.TypeFor[unified.Problem](), reflect.TypeFor[unified.Capabilities](), reflect.TypeFor[unified.Event]()} {
		if _, err := s.of(t); err != nil {
			return nil, nil, err
		}
	}

	for _, r := range unified.ResourceTypes() {
		if err := addResource(d, s, r); err != nil {
			return nil, nil, err
		}
	}
	addWrites(d, s) // writes.go
	d.Tags = append(d.Tags,
		tag{"capabilities", "What a connection's connector offers: resources, and the filters each accepts or requires."},
		tag{"passthrough", "Requests relayed to a connection's source system, for what the unified resources do not cover."},
		tag{"meta", "This document."},
		tag{"events", "What Ferry sends to a client's webhooks: events from the sources' feeds (docs/events.md)."},
	)
	d.Webhooks = map[string]*pathItem{"event": eventWebhook()}

	d.Paths["/v1/{connection_id}/capabilities"] = &pathItem{
		Parameters: []*parameter{{Ref: ref("parameters", "connection_id")}},
		Get: &operation{
			OperationID: "get_capabilities",
			Summary:     "What this connection offers",
			Description: "The resources the connection's connector can read and search, and per resource the filters it accepts and which of them are required, so a client can build its queries before it sends one.",
			Tags:        []string{"capabilities"},
			Parameters:  requestHeaders(),
			Responses:   withErrors(ok("The connection's capabilities.", "application/json", &schema{Ref: ref("schemas", "Capabilities")})),
		},
	}
	d.Paths["/v1/{connection_id}/passthrough/{path}"] = passthrough()
	d.Paths["/v1/openapi.json"] = &pathItem{Get: &operation{
		OperationID: "get_openapi",
		Summary:     "This document",
		Description: "The OpenAPI 3.1 description of this API. It needs no credentials.",
		Tags:        []string{"meta"},
		Parameters:  requestHeaders(),
		// No credentials and no connection: only a request Ferry cannot
		// parse (400) or one with an oversized body (413) is refused.
		Responses: map[string]*response{
			"200": ok("This document.", "application/json", &schema{Type: "object"})["200"],
			"400": {Ref: ref("responses", "Problem400")},
			"413": {Ref: ref("responses", "Problem413")},
		},
		Security: &[]securityReq{},
	}}

	var undocumented []string
	for k := range s.undocumented {
		undocumented = append(undocumented, k)
	}
	slices.Sort(undocumented)
	return d, undocumented, nil
}

// addResource adds the search and read paths of one resource, its tag and
// its schemas.
func addResource(d *document, s *schemas, r unified.ResourceType) error {
	t := r.GoType()
	if t == nil {
		return fmt.Errorf("openapi: resource %s has no Go type", r)
	}
	item, err := s.of(t)
	if err != nil {
		return err
	}
	list, err := s.list(t)
	if err != nil {
		return err
	}
	changes, err := s.changes(t)
	if err != nil {
		return err
	}
	name := typeName(t)
	d.Tags = append(d.Tags, tag{string(r), s.out[name].Description})
	fields := &parameter{
		Name: "fields", In: "query",
		Description: "The top-level fields to return, comma-separated; `id` is always included. Applied by the gateway, whatever the connector answers.",
		Schema:      &schema{Type: "array", Items: &schema{Type: "string", Enum: r.Fields()}},
		Style:       "form", Explode: boolp(false),
	}

	search := []*parameter{
		{Ref: ref("parameters", "limit")},
		{Ref: ref("parameters", "cursor")},
		fields,
		{Ref: ref("parameters", "raw")},
	}
	for _, f := range unified.StandardFilters() {
		search = append(search, &parameter{Ref: ref("parameters", "filter_"+f.Name)})
	}
	read := []*parameter{{Ref: ref("parameters", "raw")}, fields}
	read = append(read, requestHeaders()...)
	search = append(search, requestHeaders()...)

	scope := &[]securityReq{{"bearerAuth": {"read"}}}
	d.Paths["/v1/{connection_id}/"+string(r)] = &pathItem{
		Parameters: []*parameter{{Ref: ref("parameters", "connection_id")}},
		Get: &operation{
			OperationID: "search_" + string(r),
			Summary:     "Search " + strings.ReplaceAll(string(r), "_", " "),
			Description: "A page of the connection's " + name + " records matching the filters, fetched live from the source; follow `next_cursor` until it is absent.\n\n" + searchNotes,
			Tags:        []string{string(r)},
			Parameters:  search,
			Responses:   withErrors(ok("A page of records.", "application/json", &schema{Ref: ref("schemas", list)})),
			Security:    scope,
		},
	}
	d.Paths["/v1/{connection_id}/"+string(r)+"/_changes"] = changesPath(r, name, changes, fields, scope)
	d.Paths["/v1/{connection_id}/"+string(r)+"/{id}"] = &pathItem{
		Parameters: []*parameter{{Ref: ref("parameters", "connection_id")}, {Ref: ref("parameters", "id")}},
		Get: &operation{
			OperationID: "read_" + string(r),
			Summary:     "Read " + article(name) + " " + name,
			Description: "One " + name + " record, by its id at the source, fetched live.\n\nNeeds the client scope `read`.",
			Tags:        []string{string(r)},
			Parameters:  read,
			Responses:   withErrors(ok("The record.", "application/json", item)),
			Security:    scope,
		},
	}
	return nil
}

// searchNotes end the description of every search.
const searchNotes = "Which of the filters below the connection supports, and which it requires, is given by GET /v1/{connection_id}/capabilities: an unsupported filter is a 400 `unsupported`, and a search without a required filter a 400 naming it. A connector may accept further filters of its own (kind `string`), listed there too.\n\n" +
	"Needs the client scope `read`."

func article(noun string) string {
	if strings.ContainsRune("AEIOU", rune(noun[0])) {
		return "an"
	}
	return "a"
}

func passthrough() *pathItem {
	body := &requestBody{
		Description: "Relayed to the source unmodified, with its Content-Type.",
		Content:     map[string]*mediaType{"*/*": {Schema: &schema{}}},
	}
	op := func(method string, withBody bool) *operation {
		resp := withErrors(map[string]*response{"default": {
			Description: "The source's answer, relayed unmodified (status, body and content headers). Problems with Content-Type `application/problem+json` come from Ferry itself; anything else is the source's.",
			Headers:     responseHeaders(),
			Content:     map[string]*mediaType{"*/*": {Schema: &schema{}}},
		}})
		o := &operation{
			OperationID: "passthrough_" + strings.ToLower(method),
			Summary:     method + " to the source",
			Description: "Relays the request to the connection's base URL plus `path` (and the query string), with the connection's credentials, and streams the answer back unmodified, capped in size by the gateway's configuration (`limits.max_upstream_body_bytes`). Only relative paths are relayed: an absolute URL, a `..` segment or a change of host is a 400.\n\nNeeds the client scope `passthrough`; audited and limited like every other request.",
			Tags:        []string{"passthrough"},
			Parameters:  requestHeaders(),
			Responses:   resp,
			Security:    &[]securityReq{{"bearerAuth": {"passthrough"}}},
		}
		if withBody {
			o.RequestBody = body
		}
		return o
	}
	return &pathItem{
		Parameters: []*parameter{
			{Ref: ref("parameters", "connection_id")},
			{
				Name: "path", In: "path", Required: true,
				Description: "The path relative to the connection's base URL, such as `Binary/123`; unlike other path parameters it may contain `/`.",
				Schema:      &schema{Type: "string", MinLength: intp(1)},
			},
		},
		Get:    op("GET", false),
		Post:   op("POST", true),
		Put:    op("PUT", true),
		Patch:  op("PATCH", true),
		Delete: op("DELETE", false),
	}
}

// ok is a 200 response with the common headers.
func ok(desc, contentType string, body *schema) map[string]*response {
	return map[string]*response{"200": {
		Description: desc,
		Headers:     responseHeaders(),
		Content:     map[string]*mediaType{contentType: {Schema: body}},
	}}
}

func withErrors(rs map[string]*response) map[string]*response {
	for _, st := range errorStatuses {
		rs[strconv.Itoa(st)] = &response{Ref: ref("responses", "Problem"+strconv.Itoa(st))}
	}
	return rs
}

func problemResponse(status int) *response {
	var codes []string
	all := unified.Codes()
	slices.Sort(all)
	for _, c := range all {
		if c.Status() == status {
			codes = append(codes, "`"+string(c)+"`")
		}
	}
	desc := statusText[status] + "."
	if len(codes) > 0 {
		desc += " Problem codes: " + strings.Join(codes, ", ") + "."
	}
	return &response{
		Description: desc,
		Headers:     responseHeaders(),
		Content:     map[string]*mediaType{"application/problem+json": {Schema: &schema{Ref: ref("schemas", "Problem")}}},
	}
}

var statusText = map[int]string{
	400: "Bad request",
	401: "Missing or invalid credentials",
	403: "The client may not use this connection or operation",
	404: "No such connection, resource or record",
	413: "The request is too large",
	421: "This node's region does not serve the tenant: the X-Ferry-Home-Endpoint header names the region that does",
	429: "Too many requests: the client's rate limit is exhausted",
	500: "A bug in Ferry",
	502: "The source or the connector answered with an error",
	503: "The connector, the connection's credentials, the source or the tenant's home region are unavailable",
	504: "The source did not answer in time",
	412: "The record changed since it was read: ETag carries its current version",
	422: "The source refused the record, or the Idempotency-Key was used for another body",
	428: "An update without If-Match",
}

func commonHeaders() map[string]*header {
	return map[string]*header{
		"X-Request-Id": {
			Description: "The request's id: the caller's X-Request-Id if it was acceptable, otherwise one Ferry generated. Problems carry it as `request_id`; quote it when reporting one.",
			Schema:      &schema{Type: "string"},
		},
		"Server-Timing": {
			Description: "Where the time went, in milliseconds (W3C Server Timing): `proxy;dur=…, upstream;dur=…`.",
			Schema:      &schema{Type: "string"},
		},
	}
}

func responseHeaders() map[string]*header {
	return map[string]*header{
		"X-Request-Id":  {Ref: ref("headers", "X-Request-Id")},
		"Server-Timing": {Ref: ref("headers", "Server-Timing")},
	}
}

func requestHeaders() []*parameter {
	return []*parameter{{Ref: ref("parameters", "X-Request-Id")}, {Ref: ref("parameters", "X-Purpose-Of-Use")}}
}

func commonParameters() map[string]*parameter {
	return map[string]*parameter{
		"connection_id": {
			Name: "connection_id", In: "path", Required: true,
			Description: "The connection: a tenant's configured source system, which the client must be allowed to use.",
			Schema:      &schema{Type: "string"},
		},
		"id": {
			Name: "id", In: "path", Required: true,
			Description: "The record's id at the source: 1–64 of [A-Za-z0-9.-], not only dots (FHIR's id rule).",
			Schema:      &schema{Type: "string", Pattern: idPattern},
		},
		"limit": {
			Name: "limit", In: "query",
			Description: "The largest number of records on the page.",
			Schema:      &schema{Type: "integer", Minimum: intp(1), Maximum: intp(unified.MaxLimit), Default: unified.DefaultLimit},
		},
		"cursor": {
			Name: "cursor", In: "query",
			Description: "Opaque: pass the `next_cursor` of the previous page to get the next one. Other parameters may be omitted or must equal the first page's. A tampered or expired cursor, or another client's, is a 400.",
			Schema:      &schema{Type: "string"},
		},
		"raw": {
			Name: "raw", In: "query",
			Description: "Include the untouched source record under `raw`.",
			Schema:      &schema{Type: "boolean", Default: false},
		},
		"X-Request-Id": {
			Name: "X-Request-Id", In: "header",
			Description: "The caller's id for this request, kept and echoed if it is 1–64 of [A-Za-z0-9._-]; otherwise Ferry generates one.",
			Schema:      &schema{Type: "string", Pattern: "^[A-Za-z0-9._-]{1,64}$"},
		},
		"X-Purpose-Of-Use": {
			Name: "X-Purpose-Of-Use", In: "header",
			Description: "Why the data is requested, as an HL7 PurposeOfUse code such as TREAT, HPAYMT or HOPERAT; recorded in the audit log. A token's purpose-of-use claim wins over it. A client's policy may require one and limit the codes (403 otherwise); BTG (break-glass) is served only to clients allowed it, and flagged for alerting.",
			Schema:      &schema{Type: "string", Pattern: "^[A-Z0-9_-]{1,16}$"},
		},
	}
}

// idPattern is unified.ValidID as a pattern, less its "not only dots" rule
// (which the description states); a test keeps the two in step.
const idPattern = "^[A-Za-z0-9.-]{1,64}$"

// filterParameter describes a standard filter, with its kind's grammar
// from the doc comment of the kind's constant.
func filterParameter(f unified.Filter, pd *pkgDocs) *parameter {
	sc := &schema{Type: "string", MaxLength: intp(256)}
	if f.Kind == unified.FilterID {
		sc.Pattern = idPattern
	}
	desc := f.Doc
	if k := pd.kindDocs[string(f.Kind)]; k != "" {
		desc += "\n\nKind `" + string(f.Kind) + "`: " + k
	}
	return &parameter{
		Name: f.Name, In: "query",
		Description: desc + "\n\nSupported and required per connection and resource, as GET /v1/{connection_id}/capabilities says.",
		Schema:      sc,
		FilterKind:  string(f.Kind),
	}
}
