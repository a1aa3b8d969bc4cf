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
	// Regions are every region of the deployment, this node's and the
	// others' (docs/residency.md). Required unless dev_mode; without them
	// the node serves every tenant and no region rule applies.
	Regions []Region `json:"regions,omitempty"`
	// Misdirected is what this node does with a request for a tenant whose
	// home region is another: "redirect" (default: 421 naming the home
	// region's endpoint) or "forward" (relayed there over TLS, once).
	Misdirected string `json:"misdirected,omitempty"`
}

// Region is one region of the deployment (docs/residency.md).
type Region struct {
	// Name is the region's id, as node.region and the tenants' and
	// connections' region fields name it. Required.
	Name string `json:"name"`
	// Endpoint is the region's public API base URL, https (http only on
	// loopback with dev_mode). Required: a 421 names it, and forwarded
	// requests go there.
	Endpoint string `json:"endpoint"`
	// AWSRegions are the AWS regions inside this region ("eu-west-1"),
	// against which tenants' secrets and AWS audit sinks are checked. An
	// AWS region named like the region itself needs no entry. An AWS
	// region may belong to one region only. Default: none.
	AWSRegions []string `json:"aws_regions,omitempty"`
	// CAFile is a PEM file of CAs to trust, instead of the system's, when
	// this node forwards a request to the region (read at start).
	// Default: the system's roots.
	CAFile string `json:"ca_file,omitempty"`
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
	// ChangesTTL is how long a change feed's cursor stays valid: a client
	// holds it between polls, and through its own outages. Default "168h";
	// at most "720h". Keys cannot be dropped before it has passed.
	ChangesTTL Duration `json:"changes_ttl,omitempty"`
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
	// TrustedProxies are the CIDRs of the load balancers and proxies in
	// front of Ferry. Only from a peer in them is the client's address
	// taken from X-Forwarded-For (the right-most address not in them) or
	// from a PROXY protocol v2 header; from any other peer both are
	// ignored. The address is recorded (source_ip in audit events) and
	// decides nothing. Default: none (the peer's address is the client's).
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// ProxyProtocol makes the API listener read a PROXY protocol v2 header
	// from trusted peers (trusted_proxies, required then); other peers'
	// connections are served as they are, a header from them unread.
	// Default false.
	ProxyProtocol bool `json:"proxy_protocol,omitempty"`
	// Drain is what SIGTERM does before the process exits
	// (docs/operations.md).
	Drain Drain `json:"drain,omitempty"`
	// Tracing, when set, exports OpenTelemetry traces (docs/tracing.md).
	Tracing *Tracing `json:"tracing,omitempty"`
	// TenantRetry is how a tenant that could not be set up (its role,
	// audit key or audit sinks) is retried in the background while the
	// others serve.
	TenantRetry Backoff `json:"tenant_retry,omitempty"`
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
	// Sandbox is how strictly the kernel fences the plugin in
	// (docs/design.md, Threat model): "required" (default) runs it under
	// Landlock, seccomp, resource limits and no capabilities, and refuses
	// to start it on a kernel that lacks any of them; "best_effort" applies
	// what the kernel has; "off" applies none. With dev_mode, "required"
	// acts as "best_effort". ferry check warns about the last two.
	Sandbox string `json:"sandbox,omitempty"`
}

// The plugin sandbox modes.
const (
	SandboxRequired   = "required"
	SandboxBestEffort = "best_effort"
	SandboxOff        = "off"
)

// Tenant is a customer organisation.
type Tenant struct {
	ID string `json:"id"`
	// HomeRegion is the region whose nodes serve the tenant: any other
	// node redirects or forwards its requests there. Required when regions
	// are declared.
	HomeRegion string `json:"home_region,omitempty"`
	// AllowedRegions are further regions where the tenant's data may sit:
	// its connections' sources, its secrets, its audit sinks. The home
	// region is always allowed. Default: none (home only).
	AllowedRegions []string `json:"allowed_regions,omitempty"`
	Secrets        Secrets  `json:"secrets"`
	Audit          Audit    `json:"audit"`
	// Issuers are the OAuth 2.0 authorization servers whose JWT access
	// tokens the tenant's clients may present (docs/authorization.md).
	// Default: none (API keys only).
	Issuers []Issuer `json:"issuers,omitempty"`
}

// Secrets says where a tenant's credentials live. Every secret reference
// of the tenant (its connections' auth.secret_ref, its audit.key_ref) is
// resolved by this provider, and by no other tenant's.
type Secrets struct {
	// Provider is "aws": the tenant's own AWS Secrets Manager, read through
	// an IAM role of the tenant's that Ferry assumes with an ExternalId
	// (references are secret ARNs, see docs/tenant-secrets.md); or "env"
	// (dev_mode only; references look like "env:NAME" or "literal:VALUE").
	// Required.
	Provider string `json:"provider"`
	// Region is the tenant's AWS region ("eu-west-1"): STS and Secrets
	// Manager are called there, and every reference must name a secret in
	// it. Required for "aws".
	Region string `json:"region,omitempty"`
	// RoleARN is the role in the tenant's account that Ferry assumes
	// ("arn:aws:iam::111111111111:role/ferry-reader"); references must name
	// secrets of that account. Required for "aws".
	RoleARN string `json:"role_arn,omitempty"`
	// ExternalID is the ExternalId the role's trust policy requires (2 to
	// 1224 of A-Z a-z 0-9 and + = , . @ : / - _). Required for "aws".
	ExternalID string `json:"external_id,omitempty"`
	// Endpoint overrides the AWS endpoint of STS and Secrets Manager: an
	// https URL (a VPC endpoint), or http on 127.0.0.1 / localhost / [::1]
	// (an emulator in tests). Default: AWS's regional endpoints.
	Endpoint string `json:"endpoint,omitempty"`
	// CacheTTL is how long a value read from Secrets Manager is served from
	// memory. Default "5m"; between "1s" and "1h". "aws" only.
	CacheTTL Duration `json:"cache_ttl,omitempty"`
	// MinForcedRefresh is the least time between two reads of one secret
	// forced by a source's 401 (rotation), so a source that rejects every
	// credential cannot turn each request into a Secrets Manager call.
	// Default "5s"; between "100ms" and "10m". "aws" only.
	MinForcedRefresh Duration `json:"min_forced_refresh,omitempty"`
}

// The secrets providers.
const (
	SecretsAWS = "aws"
	SecretsEnv = "env"
)

// Audit is a tenant's audit settings: its keys, where its trail goes, and
// what happens when it cannot go there. docs/audit.md describes the trail;
// docs/config.md lists every field with its default. Zero values mean the
// default, which package auditlog applies.
type Audit struct {
	// KeyRef references the tenant's audit HMAC key (at least 32 bytes),
	// under which patient references in audit events are keyed.
	KeyRef string `json:"key_ref"`
	// SigningKeyRef references the tenant's Ed25519 checkpoint signing key:
	// a PKCS #8 PEM key or a 32-byte seed (raw, hex or base64). Optional,
	// but without it the trail is chained and not signed, which does not
	// stop someone who can rewrite the whole store.
	SigningKeyRef string `json:"signing_key_ref,omitempty"`
	// Sinks are where the tenant's events go. Default: one stdout sink.
	Sinks []AuditSink `json:"sinks,omitempty"`
	// OnSinkFailure is "block" (default: no sink, no PHI response) or
	// "drop" (serve, and count the events lost).
	OnSinkFailure string `json:"on_sink_failure,omitempty"`
	// CheckpointEvery adds a signed checkpoint after this many events.
	// Default 1000.
	CheckpointEvery int `json:"checkpoint_every,omitempty"`
	// CheckpointInterval adds one when this long has passed since the last
	// and events came since. Default "1m".
	CheckpointInterval Duration `json:"checkpoint_interval,omitempty"`
	// QueueSize bounds each sink's in-memory queue, in events. Default
	// 10000.
	QueueSize int `json:"queue_size,omitempty"`
}

// AuditSink is one destination of a tenant's audit trail. Kind says which
// of the other fields apply; the rest must be left out.
type AuditSink struct {
	// Kind is stdout, webhook, syslog, cloudwatch, firehose or s3.
	Kind string `json:"kind"`
	// Name labels the sink in metrics and logs; default the kind. Unique
	// within the tenant.
	Name string `json:"name,omitempty"`
	// BatchSize, FlushInterval and Timeout tune delivery; each kind has
	// its own defaults (docs/config.md).
	BatchSize     int      `json:"batch_size,omitempty"`
	FlushInterval Duration `json:"flush_interval,omitempty"`
	Timeout       Duration `json:"timeout,omitempty"`

	// URL (webhook) receives each batch as a signed POST.
	URL string `json:"url,omitempty"`
	// HMACKeyRef (webhook) references the key that signs each body.
	HMACKeyRef string `json:"hmac_key_ref,omitempty"`
	// AllowInsecureHTTP (webhook) permits an http:// URL.
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`

	// Address (syslog) is the collector's host:port.
	Address string `json:"address,omitempty"`
	// Facility (syslog) is 1 to 23; default 13 (log audit).
	Facility int `json:"facility,omitempty"`
	// TLS (webhook, syslog) tunes TLS; for syslog its presence turns TLS
	// on (RFC 5425), without it syslog is plain TCP.
	TLS *AuditSinkTLS `json:"tls,omitempty"`

	// Region (cloudwatch, firehose, s3) is the service's AWS region, which
	// must lie in one of the tenant's regions. For webhook and syslog it is
	// the region (regions[].name) where the receiver runs, one of the
	// tenant's regions; default the tenant's home region.
	Region string `json:"region,omitempty"`
	// Endpoint (cloudwatch, firehose, s3) overrides the service endpoint:
	// https, or http on loopback (an emulator in tests).
	Endpoint string `json:"endpoint,omitempty"`
	// LogGroup and LogStreamPrefix (cloudwatch): an existing log group;
	// each chain gets the stream PREFIX+CHAIN_ID (default prefix "ferry-").
	LogGroup        string `json:"log_group,omitempty"`
	LogStreamPrefix string `json:"log_stream_prefix,omitempty"`
	// DeliveryStream (firehose) is a Direct PUT delivery stream.
	DeliveryStream string `json:"delivery_stream,omitempty"`
	// Bucket, Prefix and PathStyle (s3): one object per batch under Prefix;
	// PathStyle for S3-compatible stores and emulators.
	Bucket    string `json:"bucket,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	PathStyle bool   `json:"path_style,omitempty"`
}

// AuditSinkTLS is a sink's TLS client settings.
type AuditSinkTLS struct {
	// CAFile is a PEM file of CAs to trust instead of the system's (read
	// at start).
	CAFile string `json:"ca_file,omitempty"`
	// ServerName is the name to verify; default the host of the address.
	ServerName string `json:"server_name,omitempty"`
}

// Client is an API caller of a tenant.
type Client struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	// APIKeySHA256 is the lowercase hex SHA-256 of the client's API key.
	// The key itself is never stored. Required unless oauth_client_id is
	// set.
	APIKeySHA256 string `json:"api_key_sha256,omitempty"`
	// OAuthClientID matches the client to access tokens of its tenant's
	// issuers: their client_id claim, or sub when they have none. Unique
	// within the tenant. Default: none (API key only).
	OAuthClientID string `json:"oauth_client_id,omitempty"`
	// Connections lists the connection ids this client may use; they must
	// belong to the client's tenant.
	Connections []string `json:"connections"`
	// Scopes are what the client may do: "read" (unified reads and
	// searches), "write" (unified creates and updates, docs/writes.md) and
	// "passthrough" (raw requests relayed to the source). Default ["read"].
	Scopes []string `json:"scopes,omitempty"`
	// SMARTScopes are SMART v2 resource scopes ("system/Observation.rs?
	// category=vital-signs", "patient/*.rs"). For an API key they are what
	// the client may read; for a token client they bound what its tokens'
	// scopes grant (a request needs both). Default: none (an API key reads
	// every resource; a token's scopes alone decide).
	SMARTScopes []string `json:"smart_scopes,omitempty"`
	// Policy is the client's minimum-necessary policy: resources,
	// operations, fields, purpose of use. Default: none.
	Policy *Policy `json:"policy,omitempty"`
	// RateLimit is the client's inbound request limit on this replica.
	// Default: none.
	RateLimit *ClientRateLimit `json:"rate_limit,omitempty"`
	// Webhooks are the client's event subscriptions (docs/events.md).
	// Default: none.
	Webhooks []Webhook `json:"webhooks,omitempty"`
}

// The client scopes.
const (
	ScopeRead        = "read"
	ScopePassthrough = "passthrough"
	ScopeWrite       = "write"
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
	// Region is the region (regions[].name) where the source runs, one of
	// its tenant's regions. Default: the tenant's home region.
	Region string `json:"region,omitempty"`
	Auth   Auth   `json:"auth"`
	// Timeout is the default deadline of a request to this connection,
	// plugin and source included. Default "10s"; at most "120s".
	Timeout Duration `json:"timeout,omitempty"`
	// AllowInsecureHTTP permits an http:// base URL. Default false.
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`
	// AllowPrivateNetwork permits a source whose address is loopback,
	// private or link-local. Default false: such addresses are refused at
	// dial time, which blocks SSRF and DNS rebinding.
	AllowPrivateNetwork bool `json:"allow_private_network,omitempty"`
	// CAFile is a PEM file of the CAs that sign the source's certificates
	// (a hospital's internal CA): for an https base_url, an mllps one and
	// the token endpoint. Set, these CAs alone are trusted (not the
	// system's), and the server name is still checked. Read at start and
	// at each reload. Default: the system's roots.
	CAFile string `json:"ca_file,omitempty"`
	// Limits bound the connection's calls to its source: pacing, the
	// bulkhead, the deadline clients may ask for, retries (proxy/guard).
	Limits ConnectionLimits `json:"limits,omitempty"`
	// Breaker is the connection's circuit breaker (proxy/guard).
	Breaker Breaker `json:"breaker,omitempty"`
	// Settings are the connector's own non-secret settings, decoded by the
	// connector.
	Settings json.RawMessage `json:"settings,omitempty"`
	// Feed, for an hl7v2 connection, is an inbound message feed delivered
	// to the webhooks of the tenant's clients (docs/events.md). Default:
	// none.
	Feed *Feed `json:"feed,omitempty"`
}

// Auth is how the host authenticates to a connection's source. The host
// transport applies it to every source request; connectors never see it.
type Auth struct {
	// Kind is none | bearer | basic | api_key | oauth2_client_credentials |
	// smart_backend_services. Required.
	Kind string `json:"kind"`
	// SecretRef references the credential, in the tenant's secrets
	// provider: the token (bearer); "user:pass" or {"username",
	// "password"} (basic); the key (api_key); the client secret or
	// {"client_id", "client_secret"} (oauth2_client_credentials); the PEM
	// private key or {"private_key", "kid"} (smart_backend_services).
	// Required for every kind but none.
	SecretRef string `json:"secret_ref,omitempty"`
	// Header is the header that carries an api_key. Default "X-API-Key".
	Header string `json:"header,omitempty"`
	// TokenURL is the OAuth2 token endpoint (the token kinds only): https,
	// or http with dev_mode or the connection's allow_insecure_http. For
	// smart_backend_services it is also the client assertion's aud.
	TokenURL string `json:"token_url,omitempty"`
	// ClientID is the registered client id. Required for
	// smart_backend_services (the assertion's iss and sub); for
	// oauth2_client_credentials it may instead come from the secret, whose
	// client_id wins.
	ClientID string `json:"client_id,omitempty"`
	// Scopes are requested from the token endpoint, space-separated. At
	// least one for smart_backend_services ("system/Patient.rs").
	Scopes []string `json:"scopes,omitempty"`
	// ClientAuth is how oauth2_client_credentials sends the client secret:
	// "client_secret_basic" (default) or "client_secret_post".
	ClientAuth string `json:"client_auth,omitempty"`
	// Algorithm signs the smart_backend_services assertion: "RS384" or
	// "ES384". Default: from the key (RSA: RS384, P-384: ES384).
	Algorithm string `json:"algorithm,omitempty"`
	// KeyID is the assertion's kid header (smart_backend_services). Default:
	// the secret's "kid", if any.
	KeyID string `json:"key_id,omitempty"`
}

// The outbound auth kinds.
const (
	AuthNone                 = "none"
	AuthBearer               = "bearer"
	AuthBasic                = "basic"
	AuthAPIKey               = "api_key"
	AuthOAuth2ClientCreds    = "oauth2_client_credentials"
	AuthSMARTBackendServices = "smart_backend_services"
)

// The oauth2_client_credentials client authentication methods.
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
)

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
