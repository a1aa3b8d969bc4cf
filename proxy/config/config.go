package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Config is the whole file.
type Config struct {
	// DevMode unlocks what is unsafe in production: the env and literal
	// secret references, plaintext listeners on non-loopback addresses.
	// Default false.
	DevMode bool `json:"dev_mode,omitempty"`
	Node    Node `json:"node"`
	// Limits applies to every request; see Limits for defaults.
	Limits      Limits       `json:"limits"`
	Plugins     []Plugin     `json:"plugins"`
	Tenants     []Tenant     `json:"tenants"`
	Clients     []Client     `json:"clients"`
	Connections []Connection `json:"connections"`
	// Cursor configures the sealing of paging cursors. Required unless
	// dev_mode, where a missing section gives a random per-process key.
	Cursor *Cursor `json:"cursor,omitempty"`
}

// Cursor configures paging cursors. Every replica of a region must share the
// keys, so that any replica can serve the next page of any other's search.
type Cursor struct {
	// Keys seal and open cursors: the first seals, all open. To rotate, add
	// the new key second and deploy, move it first and deploy, then drop
	// the old one once cursors sealed with it have expired.
	Keys []CursorKey `json:"keys"`
	// TTL is how long a cursor stays valid. Default "1h"; at most "24h".
	TTL Duration `json:"ttl,omitempty"`
}

// CursorKey is one cursor sealing key.
type CursorKey struct {
	// ID names the key inside every cursor it seals: 1 to 8 of [a-z0-9].
	ID string `json:"id"`
	// SecretRef references at least 32 random bytes. Node keys belong to
	// the operator, not a tenant, so "env:NAME" (a Kubernetes secret
	// mounted as environment) is allowed outside dev_mode; "literal:" is
	// not.
	SecretRef string `json:"secret_ref"`
}

// Node is this process: where it listens and which region it serves.
type Node struct {
	// Listen is the API listener's address. Default "127.0.0.1:8080".
	Listen string `json:"listen,omitempty"`
	// AdminListen serves /healthz, /readyz and /metrics, never the API.
	// Default "127.0.0.1:9090".
	AdminListen string `json:"admin_listen,omitempty"`
	// Region is the region this node serves; default "local".
	Region string `json:"region,omitempty"`
	// TLS, when set, serves the API over TLS 1.2 or newer. Without it the
	// API listener must be on loopback, or dev_mode or insecure_plaintext
	// must be set (TLS terminated in front of Ferry).
	TLS *TLS `json:"tls,omitempty"`
	// InsecurePlaintext allows a plaintext API listener on a non-loopback
	// address, for deployments where a sidecar or load balancer terminates
	// TLS. Default false.
	InsecurePlaintext bool `json:"insecure_plaintext,omitempty"`
}

// TLS names the server's certificate and key files (read at start only).
type TLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// Limits bound the work one request may cause.
type Limits struct {
	// MaxRequestBodyBytes: larger request bodies get 413. Default 1 MiB.
	MaxRequestBodyBytes int `json:"max_request_body_bytes,omitempty"`
	// MaxUpstreamBodyBytes: a source answer larger than this fails the
	// request with 502 instead of being buffered. Default 16 MiB.
	MaxUpstreamBodyBytes int `json:"max_upstream_body_bytes,omitempty"`
	// PluginStartTimeout bounds a plugin's handshake. Default "10s".
	PluginStartTimeout Duration `json:"plugin_start_timeout,omitempty"`
}

// Plugin is a catalog entry: the binary that implements a connector kind.
type Plugin struct {
	Kind string `json:"kind"`
	// Path of the binary, relative to the config file's folder unless
	// absolute.
	Path string `json:"path"`
	// SHA256 is the hex digest of the binary; Ferry refuses to start a
	// binary that does not match.
	SHA256 string `json:"sha256"`
}

// Tenant is a customer organisation.
type Tenant struct {
	ID      string  `json:"id"`
	Secrets Secrets `json:"secrets"`
	Audit   Audit   `json:"audit"`
}

// Secrets says where a tenant's credentials live.
type Secrets struct {
	// Provider is "env" (dev_mode only; references look like "env:NAME" or
	// "literal:VALUE"). The tenant-owned AWS Secrets Manager provider is
	// planned and not accepted yet.
	Provider string `json:"provider"`
}

// Audit is a tenant's audit settings.
type Audit struct {
	// KeyRef references the tenant's audit HMAC key (at least 32 bytes),
	// under which patient references in audit events are keyed.
	KeyRef string `json:"key_ref"`
}

// Client is an API caller of a tenant.
type Client struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// APIKeySHA256 is the lowercase hex SHA-256 of the client's API key.
	// The key itself is never stored.
	APIKeySHA256 string `json:"api_key_sha256"`
	// Connections lists the connection ids this client may use; they must
	// belong to the client's tenant.
	Connections []string `json:"connections"`
	// Scopes are what the client may do: "read" (unified reads and
	// searches) and "passthrough" (raw requests relayed to the source).
	// Default ["read"].
	Scopes []string `json:"scopes,omitempty"`
}

// The client scopes.
const (
	ScopeRead        = "read"
	ScopePassthrough = "passthrough"
)

// HasScope reports whether the client was granted scope.
func (c *Client) HasScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Connection is a tenant's configured source system.
type Connection struct {
	ID        string `json:"id"`
	Tenant    string `json:"tenant"`
	Connector string `json:"connector"` // a plugin catalog kind
	// BaseURL is the source's base URL; connectors send only paths relative
	// to it. https unless allow_insecure_http.
	BaseURL string `json:"base_url"`
	Auth    Auth   `json:"auth"`
	// Timeout is the default deadline of a request to this connection,
	// plugin and source included. Default "10s"; at most "120s".
	Timeout Duration `json:"timeout,omitempty"`
	// AllowInsecureHTTP permits an http:// base URL. Default false.
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`
	// AllowPrivateNetwork permits a source whose address is loopback,
	// private or link-local. Default false: such addresses are refused at
	// dial time, which blocks SSRF and DNS rebinding.
	AllowPrivateNetwork bool `json:"allow_private_network,omitempty"`
	// Settings are the connector's own non-secret settings, decoded by the
	// connector.
	Settings json.RawMessage `json:"settings,omitempty"`
}

// Auth is how the host authenticates to a connection's source.
type Auth struct {
	// Kind is none | bearer | basic | api_key.
	Kind string `json:"kind"`
	// SecretRef references the credential: the token (bearer), "user:pass"
	// (basic) or the key (api_key).
	SecretRef string `json:"secret_ref,omitempty"`
	// Header is the header that carries an api_key. Default "X-API-Key".
	Header string `json:"header,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("10s").
type Duration time.Duration

// UnmarshalJSON parses "10s", "250ms", "1m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a duration string like \"10s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
