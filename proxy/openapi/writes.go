package openapi

import (
	"slices"
	"strconv"

	"github.com/ferryhealth/ferry/unified"
)

// The write operations (docs/writes.md): POST on a writable resource's
// collection, PATCH on its records. Their bodies are the resource's schema
// without the members the source assigns: all of the required ones for a
// create, only updatable ones for an update.

// writeErrorStatuses are the problems only writes answer.
var writeErrorStatuses = []int{412, 422, 428}

func addWrites(d *document, s *schemas) {
	for _, st := range writeErrorStatuses {
		d.Components.Responses["Problem"+strconv.Itoa(st)] = problemResponse(st)
	}
	d.Components.Headers["ETag"] = &header{
		Description: "The record's version at the source (FHIR meta.versionId), weak: `W/\"3\"`. Send it as If-Match to update the record.",
		Schema:      &schema{Type: "string"},
	}
	d.Components.Parameters["Idempotency-Key"] = &parameter{
		Name: "Idempotency-Key", In: "header", Required: true,
		Description: "The client's key for this create, 1 to 255 visible ASCII characters (a UUID). A retry with the same key and body returns the record the first attempt created (200, `Idempotent-Replayed: true`); the same key with another body is a 422 `idempotency_key_reused`. Ferry never sends the key to the source: it derives an identifier from it (docs/writes.md).",
		Schema:      &schema{Type: "string", MinLength: intp(1), MaxLength: intp(255)},
	}
	d.Components.Parameters["If-Match"] = &parameter{
		Name: "If-Match", In: "header", Required: true,
		Description: "The ETag the record was read with. When the record has changed since, the update is refused with 412 `version_conflict` and the current ETag, and nothing is written.",
		Schema:      &schema{Type: "string"},
	}
	for _, r := range unified.WritableResources() {
		spec, _ := unified.Writable(r)
		name := typeName(r.GoType())
		full := s.out[name]
		create := bodySchema(full, func(p string) bool { return !slices.Contains(unified.ReadOnlyFields, p) }, spec.Required)
		create.Description = "A " + name + " to create: the record as reads return it, without " + "`id`, `source`, `updated_at` and `raw`, which the source assigns."
		patch := bodySchema(full, func(p string) bool { return slices.Contains(spec.Updatable, p) }, nil)
		patch.Description = "The fields of the " + name + " to change; only these may be sent. A field sent as null is removed."
		s.out[name+"Create"], s.out[name+"Update"] = create, patch

		written := func(desc string) *response {
			h := responseHeaders()
			h["ETag"] = &header{Ref: ref("headers", "ETag")}
			return &response{Description: desc, Headers: h,
				Content: map[string]*mediaType{"application/json": {Schema: &schema{Ref: ref("schemas", name)}}}}
		}
		scope := &[]securityReq{{"bearerAuth": {"write"}}}
		created := withWriteErrors(map[string]*response{
			"201": written("Created: the record as the source now holds it. Location names it."),
			"200": written("A retry of an earlier create with the same Idempotency-Key and body: the record it created, with `Idempotent-Replayed: true`. Nothing was written."),
		})
		created["201"].Headers["Location"] = &header{Description: "The record's path: /v1/{connection_id}/{resource}/{id}.", Schema: &schema{Type: "string"}}
		created["200"].Headers["Idempotent-Replayed"] = &header{Description: "`true`: the record an earlier attempt created.", Schema: &schema{Type: "string", Enum: []string{"true"}}}
		d.Paths["/v1/{connection_id}/"+string(r)].Post = &operation{
			OperationID: "create_" + string(r),
			Summary:     "Create " + article(name) + " " + name,
			Description: "Creates the record at the source, at most once per Idempotency-Key: safe to retry after a timeout (a 504 is `retryable`). The body is decoded strictly before the source is asked: every problem is listed in the problem's `errors` with its JSON path.\n\nNeeds the client scope `write`; GET /v1/{connection_id}/capabilities says whether the connection creates this resource.",
			Tags:        []string{string(r)},
			Parameters:  append([]*parameter{{Ref: ref("parameters", "Idempotency-Key")}}, requestHeaders()...),
			RequestBody: &requestBody{Required: true, Content: map[string]*mediaType{"application/json": {Schema: &schema{Ref: ref("schemas", name+"Create")}}}},
			Responses:   created,
			Security:    scope,
		}
		d.Paths["/v1/{connection_id}/"+string(r)+"/{id}"].Patch = &operation{
			OperationID: "update_" + string(r),
			Summary:     "Update " + article(name) + " " + name,
			Description: "Changes the fields given, if the record is still at the version If-Match names; the others are left as they are.\n\nNeeds the client scope `write`.",
			Tags:        []string{string(r)},
			Parameters:  append([]*parameter{{Ref: ref("parameters", "If-Match")}}, requestHeaders()...),
			RequestBody: &requestBody{Required: true, Content: map[string]*mediaType{"application/json": {Schema: &schema{Ref: ref("schemas", name+"Update")}}}},
			Responses:   withWriteErrors(map[string]*response{"200": written("The record as the source now holds it.")}),
			Security:    scope,
		}
	}
}

// bodySchema is full's object schema with only the properties keep
// accepts, and required ones.
func bodySchema(full *schema, keep func(string) bool, required []string) *schema {
	out := &schema{Type: "object", Properties: map[string]*schema{}, Required: required}
	for _, p := range full.order {
		if keep(p) {
			out.Properties[p] = full.Properties[p]
			out.order = append(out.order, p)
		}
	}
	return out
}

func withWriteErrors(rs map[string]*response) map[string]*response {
	rs = withErrors(rs)
	for _, st := range writeErrorStatuses {
		rs[strconv.Itoa(st)] = &response{Ref: ref("responses", "Problem"+strconv.Itoa(st))}
	}
	return rs
}

// writesSection is the reference's section on writes.
func writesSection(p func(string, ...any)) {
	p("## Writes\n\n| Resource | Create | Update | Body |\n|---|---|---|---|\n")
	for _, r := range unified.WritableResources() {
		name := typeName(r.GoType())
		p("| %s | `POST /v1/{connection_id}/%s` | `PATCH /v1/{connection_id}/%s/{id}` | [%sCreate](#%s), [%sUpdate](#%s) |\n",
			r, r, r, name, anchor(name+"Create"), name, anchor(name+"Update"))
	}
	p("\nA create needs `Idempotency-Key` and answers 201 with `Location`, or 200 with `Idempotent-Replayed: true` when it repeats an earlier create of the same key and body; the same key with another body is a 422 `idempotency_key_reused`. " +
		"An update needs `If-Match` with the ETag a read or a write answered, and changes only the fields sent; a record changed since is a 412 `version_conflict` with the current ETag. " +
		"Reads and writes answer the record's version as `ETag`. A body is decoded strictly before the source is asked: an unknown, read-only (`id`, `source`, `updated_at`, `raw`) or missing required field, a wrong type, an unknown code or a malformed date is a 400 `invalid_body` whose `errors` list every problem's JSON path and reason. " +
		"A 504 on a create is `retryable`: send it again with the same key. The model, and what it asks of the source, is in [writes.md](writes.md).\n\n" +
		"Needs the client scope `write`; GET /v1/{connection_id}/capabilities says which resources the connection creates and updates.\n\n")
}
