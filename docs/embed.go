// Package docs holds Ferry's committed, generated API description: the
// OpenAPI 3.1 document of the unified API, embedded so the gateway serves
// exactly the copy that is reviewed and tested (proxy/openapi keeps it in
// sync with the Go types of package unified).
package docs

import _ "embed"

// OpenAPI is docs/openapi.json, as committed. It is shared: never modify it.
//
//go:embed openapi.json
var OpenAPI []byte
