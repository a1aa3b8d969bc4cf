package openapi

// The OpenAPI 3.1 objects the document uses, and only those. Key order does
// not matter here: the document is written with sorted keys.

type document struct {
	OpenAPI string               `json:"openapi"`
	Info    info                 `json:"info"`
	Servers []server             `json:"servers"`
	Tags    []tag                `json:"tags"`
	Paths   map[string]*pathItem `json:"paths"`
	// Webhooks are the requests Ferry makes to its clients (events).
	Webhooks   map[string]*pathItem `json:"webhooks,omitempty"`
	Components components           `json:"components"`
	Security   []securityReq        `json:"security"`
}

type info struct {
	Title       string   `json:"title"`
	Version     string   `json:"version"`
	Description string   `json:"description"`
	License     *license `json:"license,omitempty"`
}

type license struct {
	Name       string `json:"name"`
	Identifier string `json:"identifier"`
}

// server is where the API is served.
type server struct {
	URL         string `json:"url"`
	Description string `json:"description"`
}

type tag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// securityReq maps a security scheme to the roles (Ferry's client scopes)
// an operation requires; OpenAPI 3.1 allows roles for non-OAuth schemes.
type securityReq map[string][]string

type pathItem struct {
	Parameters []*parameter `json:"parameters,omitempty"`
	Get        *operation   `json:"get,omitempty"`
	Put        *operation   `json:"put,omitempty"`
	Post       *operation   `json:"post,omitempty"`
	Delete     *operation   `json:"delete,omitempty"`
	Patch      *operation   `json:"patch,omitempty"`
}

// operations returns the item's operations by method, in the order the
// reference lists them.
func (p *pathItem) operations() []methodOp {
	var out []methodOp
	for _, m := range []methodOp{{"GET", p.Get}, {"POST", p.Post}, {"PUT", p.Put}, {"PATCH", p.Patch}, {"DELETE", p.Delete}} {
		if m.op != nil {
			out = append(out, m)
		}
	}
	return out
}

type methodOp struct {
	method string
	op     *operation
}

type operation struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary"`
	Description string               `json:"description,omitempty"`
	Tags        []string             `json:"tags"`
	Parameters  []*parameter         `json:"parameters,omitempty"`
	RequestBody *requestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*response `json:"responses"`
	// Security is nil to inherit the document's, and empty for none.
	Security *[]securityReq `json:"security,omitempty"`
}

type parameter struct {
	Ref         string  `json:"$ref,omitempty"`
	Name        string  `json:"name,omitempty"`
	In          string  `json:"in,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Schema      *schema `json:"schema,omitempty"`
	Style       string  `json:"style,omitempty"`
	Explode     *bool   `json:"explode,omitempty"`
	// FilterKind is the x-ferry-filter-kind extension of a search filter.
	FilterKind string `json:"x-ferry-filter-kind,omitempty"`
}

type requestBody struct {
	Description string                `json:"description,omitempty"`
	Required    bool                  `json:"required,omitempty"`
	Content     map[string]*mediaType `json:"content"`
}

type response struct {
	Ref         string                `json:"$ref,omitempty"`
	Description string                `json:"description,omitempty"`
	Headers     map[string]*header    `json:"headers,omitempty"`
	Content     map[string]*mediaType `json:"content,omitempty"`
}

type header struct {
	Ref         string  `json:"$ref,omitempty"`
	Description string  `json:"description,omitempty"`
	Schema      *schema `json:"schema,omitempty"`
}

type mediaType struct {
	Schema *schema `json:"schema"`
}

type components struct {
	Schemas         map[string]*schema         `json:"schemas"`
	Parameters      map[string]*parameter      `json:"parameters"`
	Responses       map[string]*response       `json:"responses"`
	Headers         map[string]*header         `json:"headers"`
	SecuritySchemes map[string]*securityScheme `json:"securitySchemes"`
}

type securityScheme struct {
	Type        string `json:"type"`
	Scheme      string `json:"scheme"`
	Description string `json:"description"`
}

// schema is a JSON Schema 2020-12 schema, as OpenAPI 3.1 uses it.
type schema struct {
	Ref         string             `json:"$ref,omitempty"`
	Type        string             `json:"type,omitempty"`
	Format      string             `json:"format,omitempty"`
	Description string             `json:"description,omitempty"`
	Properties  map[string]*schema `json:"properties,omitempty"`
	Required    []string           `json:"required,omitempty"`
	Items       *schema            `json:"items,omitempty"`
	Enum        []string           `json:"enum,omitempty"`
	Pattern     string             `json:"pattern,omitempty"`
	MinLength   *int               `json:"minLength,omitempty"`
	MaxLength   *int               `json:"maxLength,omitempty"`
	Minimum     *int               `json:"minimum,omitempty"`
	Maximum     *int               `json:"maximum,omitempty"`
	Default     any                `json:"default,omitempty"`
	// order is the properties' declaration order, for the reference.
	order []string
}

const refPrefix = "#/components/"

func ref(kind, name string) string { return refPrefix + kind + "/" + name }

func intp(i int) *int    { return &i }
func boolp(b bool) *bool { return &b }
