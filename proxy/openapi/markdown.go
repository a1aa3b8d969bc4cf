package openapi

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/ferryhealth/ferry/unified"
)

// Markdown renders the human-readable API reference (docs/api.md) of the
// same document Generate writes, so the two cannot disagree.
func Markdown(srcDir, version string) ([]byte, error) {
	d, _, err := build(srcDir, version)
	if err != nil {
		return nil, err
	}
	return markdown(d), nil
}

func markdown(d *document) []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# %s\n\n", d.Info.Title)
	p("<!-- Generated from the Go types of package unified by proxy/openapi, like openapi.json; do not edit.\n")
	p("     Regenerate with: go test ./proxy/openapi -run TestOpenAPIUpToDate -update -->\n\n")
	p("API version %s. The machine-readable description is [openapi.json](openapi.json) (OpenAPI %s), also served at `GET /v1/openapi.json`.\n\n", d.Info.Version, d.OpenAPI)
	p("%s\n\n", d.Info.Description)

	p("## Authentication\n\n")
	p("%s Each operation names the client scope it needs: `read` for resources, `passthrough` for passthrough. `GET /v1/openapi.json` needs no credentials.\n\n", d.Components.SecuritySchemes["bearerAuth"].Description)

	p("## Headers\n\n| Header | Sent by | Description |\n|---|---|---|\n")
	for _, h := range []string{"X-Request-Id", "X-Purpose-Of-Use"} {
		p("| `%s` | client (optional) | %s |\n", h, cell(d.Components.Parameters[h].Description))
	}
	for _, h := range []string{"X-Request-Id", "Server-Timing"} {
		p("| `%s` | Ferry, on every answer | %s |\n", h, cell(d.Components.Headers[h].Description))
	}
	b.WriteString("\n")

	p("## Resources\n\n| Resource | Search | Read | Record |\n|---|---|---|---|\n")
	for _, r := range unified.ResourceTypes() {
		name := typeName(r.GoType())
		p("| %s | `GET /v1/{connection_id}/%s` | `GET /v1/{connection_id}/%s/{id}` | [%s](#%s) |\n", r, r, r, name, anchor(name))
	}
	b.WriteString("\n")
	op := d.Paths["/v1/{connection_id}/"+string(unified.Patients)].Get
	p("A search answers a page of records, `{\"data\": [...], \"next_cursor\": \"...\"}` (such as [PatientList](#patientlist)), fetched live from the source; follow `next_cursor` until it is absent. A read answers the record.\n\n%s\n\n", searchNotes)

	p("### Search parameters\n\n| Parameter | Type | Description |\n|---|---|---|\n")
	for _, prm := range op.Parameters {
		prm = d.resolve(prm)
		if prm.In != "query" {
			continue
		}
		desc := prm.Description
		if prm.Name == "fields" {
			desc += " The names are those of the record's schema."
		}
		p("| `%s` | %s | %s |\n", prm.Name, typeText(prm.Schema, false), cell(desc))
	}
	p("\nA read accepts `raw` and `fields`.\n\n")
	writesSection(p)

	for _, sec := range []struct{ title, path string }{
		{"Connection capabilities", "/v1/{connection_id}/capabilities"},
		{"Passthrough", "/v1/{connection_id}/passthrough/{path}"},
		{"This document", "/v1/openapi.json"},
	} {
		path := sec.path
		item := d.Paths[path]
		ops := item.operations()
		var methods []string
		for _, m := range ops {
			methods = append(methods, m.method)
		}
		first := ops[0].op
		p("## %s\n\n`%s %s`\n\n%s\n\n", sec.title, strings.Join(methods, "|"), path, first.Description)
		if r := first.Responses["200"]; r != nil {
			for _, mt := range r.Content {
				if mt.Schema.Ref != "" {
					n := strings.TrimPrefix(mt.Schema.Ref, ref("schemas", ""))
					p("Answers [%s](#%s).\n\n", n, anchor(n))
				}
			}
		}
	}

	p("## Errors\n\nEvery error is a [Problem](#problem), served as `application/problem+json`.\n\n| Status | Meaning |\n|---|---|\n")
	for _, st := range slices.Sorted(slices.Values(append(slices.Clone(errorStatuses), writeErrorStatuses...))) {
		p("| %d | %s |\n", st, cell(d.Components.Responses[fmt.Sprint("Problem", st)].Description))
	}
	b.WriteString("\n")

	p("## Schemas\n\n")
	names := make([]string, 0, len(d.Components.Schemas))
	for n := range d.Components.Schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sc := d.Components.Schemas[n]
		p("### %s\n\n%s\n\n", n, sc.Description)
		if sc.Type != "object" {
			continue
		}
		p("| Field | Type | Required | Description |\n|---|---|---|---|\n")
		for _, f := range sc.order {
			fs := sc.Properties[f]
			req := ""
			if slices.Contains(sc.Required, f) {
				req = "yes"
			}
			p("| `%s` | %s | %s | %s |\n", f, typeText(fs, true), req, cell(fs.Description))
		}
		b.WriteString("\n")
	}
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n')
}

// resolve follows a parameter's $ref.
func (d *document) resolve(p *parameter) *parameter {
	if p.Ref != "" {
		return d.Components.Parameters[strings.TrimPrefix(p.Ref, ref("parameters", ""))]
	}
	return p
}

// typeText is a schema's type in words, linking to components.
func typeText(s *schema, link bool) string {
	switch {
	case s == nil:
		return ""
	case s.Ref != "":
		n := strings.TrimPrefix(s.Ref, ref("schemas", ""))
		if link {
			return "[" + n + "](#" + anchor(n) + ")"
		}
		return n
	case s.Type == "array":
		return "array of " + typeText(s.Items, link)
	case s.Type == "":
		return "any JSON"
	}
	t := s.Type
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	if s.Minimum != nil && s.Maximum != nil {
		t += fmt.Sprintf(", %d–%d", *s.Minimum, *s.Maximum)
	}
	if s.Default != nil {
		t += fmt.Sprintf(", default %v", s.Default)
	}
	return t
}

func anchor(name string) string { return strings.ToLower(name) }

// cell makes text fit a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n\n", "<br><br>")
	return strings.ReplaceAll(s, "\n", "<br>")
}
