package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/proxy/config/strictjson"
)

// Problem is one thing wrong with a config, at a JSON path.
type Problem = strictjson.Problem

// Defaults.
const (
	DefaultListen               = "127.0.0.1:8080"
	DefaultAdminListen          = "127.0.0.1:9090"
	DefaultRegion               = "local"
	DefaultMaxRequestBodyBytes  = 1 << 20
	DefaultMaxUpstreamBodyBytes = 16 << 20
	DefaultPluginStartTimeout   = 10 * time.Second
	DefaultConnectionTimeout    = 10 * time.Second
	MaxConnectionTimeout        = 120 * time.Second
	DefaultAPIKeyHeader         = "X-API-Key"
	DefaultCursorTTL            = time.Hour
	MaxCursorTTL                = 24 * time.Hour
	DefaultChangesCursorTTL     = 7 * 24 * time.Hour
	MaxChangesCursorTTL         = 30 * 24 * time.Hour
	maxConfigBytes              = 8 << 20
)

// Load reads, decodes and validates the config at path. Relative plugin
// paths are resolved against the file's folder. On any problem it returns
// them all and a nil config.
func Load(path string) (*Config, []Problem) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, []Problem{{Path: "$", Message: fmt.Sprintf("cannot read config: %v", err)}}
	}
	return Parse(data, filepath.Dir(path))
}

// Parse decodes and validates a config document; dir resolves relative
// plugin paths.
func Parse(data []byte, dir string) (*Config, []Problem) {
	if len(data) > maxConfigBytes {
		return nil, []Problem{{Path: "$", Message: "config larger than 8 MiB"}}
	}
	var c Config
	if probs := strictjson.Decode(data, &c); len(probs) > 0 {
		return nil, probs
	}
	c.applyDefaults(dir)
	if probs := c.Validate(); len(probs) > 0 {
		return nil, probs
	}
	return &c, nil
}

func (c *Config) applyDefaults(dir string) {
	if c.Node.Listen == "" {
		c.Node.Listen = DefaultListen
	}
	if c.Node.AdminListen == "" {
		c.Node.AdminListen = DefaultAdminListen
	}
	if c.Node.Region == "" {
		c.Node.Region = DefaultRegion
	}
	if c.Limits.MaxRequestBodyBytes == 0 {
		c.Limits.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if c.Limits.MaxUpstreamBodyBytes == 0 {
		c.Limits.MaxUpstreamBodyBytes = DefaultMaxUpstreamBodyBytes
	}
	if c.Limits.PluginStartTimeout == 0 {
		c.Limits.PluginStartTimeout = Duration(DefaultPluginStartTimeout)
	}
	for i := range c.Plugins {
		if p := c.Plugins[i].Path; p != "" && !filepath.IsAbs(p) && dir != "" {
			c.Plugins[i].Path = filepath.Join(dir, p)
		}
		if c.Plugins[i].Sandbox == "" {
			c.Plugins[i].Sandbox = SandboxRequired
		}
	}
	for i := range c.Clients {
		if c.Clients[i].Scopes == nil {
			c.Clients[i].Scopes = []string{ScopeRead}
		}
	}
	if c.Cursor != nil && c.Cursor.TTL == 0 {
		c.Cursor.TTL = Duration(DefaultCursorTTL)
	}
	if c.Cursor != nil && c.Cursor.ChangesTTL == 0 {
		c.Cursor.ChangesTTL = Duration(DefaultChangesCursorTTL)
	}
	for i := range c.Connections {
		cn := &c.Connections[i]
		if cn.Timeout == 0 {
			cn.Timeout = Duration(DefaultConnectionTimeout)
		}
		if cn.Auth.Kind == AuthAPIKey && cn.Auth.Header == "" {
			cn.Auth.Header = DefaultAPIKeyHeader
		}
		if cn.Auth.Kind == AuthOAuth2ClientCreds && cn.Auth.ClientAuth == "" {
			cn.Auth.ClientAuth = ClientSecretBasic
		}
	}
	for i := range c.Tenants {
		for j := range c.Tenants[i].Issuers {
			c.Tenants[i].Issuers[j].applyDefaults()
		}
		if s := &c.Tenants[i].Secrets; s.Provider == SecretsAWS && s.CacheTTL == 0 {
			s.CacheTTL = Duration(DefaultSecretsCacheTTL)
		}
		if s := &c.Tenants[i].Secrets; s.Provider == SecretsAWS && s.MinForcedRefresh == 0 {
			s.MinForcedRefresh = Duration(DefaultMinForcedRefresh)
		}
	}
	c.applyRegionDefaults()
	c.ApplyEventDefaults()
	c.Node.applyLifecycleDefaults()
	if c.Node.Tracing != nil {
		c.Node.Tracing.applyDefaults()
	}
}

// Warnings lists what is valid but weakens a promise, each at its JSON
// path, for ferry check to print: plugins let out of the kernel sandbox or
// given only what the kernel has.
func (c *Config) Warnings() []Problem {
	var w []Problem
	for i, p := range c.Plugins {
		at := fmt.Sprintf("$.plugins[%d].sandbox", i)
		switch p.Sandbox {
		case SandboxOff:
			w = append(w, Problem{Path: at, Message: fmt.Sprintf("plugin %q runs WITHOUT the kernel sandbox: it can open network connections, read and write files and exec programs as the ferry process", p.Kind)})
		case SandboxBestEffort:
			w = append(w, Problem{Path: at, Message: fmt.Sprintf("plugin %q runs with what sandbox the kernel has, which may be none; it is not refused on a kernel without Landlock or seccomp", p.Kind)})
		}
	}
	return w
}

// idPattern is the shape of every id in the config. Ids appear in URL paths,
// metrics labels and audit events, so they are kept to a safe alphabet.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// headerName is an HTTP token (RFC 9110 §5.6.2).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Validate checks the decoded config as a whole and returns every problem.
func (c *Config) Validate() []Problem {
	var v validator
	v.checkNode(c)
	v.checkLifecycle(&c.Node)
	if c.Node.Tracing != nil {
		v.tracing(c.Node.Tracing, c.DevMode)
	}
	if c.Limits.MaxRequestBodyBytes < 0 {
		v.add("$.limits.max_request_body_bytes", "must be positive")
	}
	if c.Limits.MaxUpstreamBodyBytes < 0 {
		v.add("$.limits.max_upstream_body_bytes", "must be positive")
	}
	if c.Limits.PluginStartTimeout < 0 {
		v.add("$.limits.plugin_start_timeout", "must be positive")
	}

	kinds := map[string]bool{}
	for i, p := range c.Plugins {
		at := fmt.Sprintf("$.plugins[%d]", i)
		v.uniqueID(at+".kind", "kind", p.Kind, kinds)
		if p.Path == "" {
			v.add(at+".path", "required")
		}
		if !hexSHA256.MatchString(p.SHA256) {
			v.add(at+".sha256", "must be 64 lowercase hex digits")
		}
		switch p.Sandbox {
		case SandboxRequired, SandboxBestEffort, SandboxOff:
		default:
			v.add(at+".sandbox", fmt.Sprintf("%q: want %q, %q or %q", p.Sandbox, SandboxRequired, SandboxBestEffort, SandboxOff))
		}
	}

	tenants := map[string]bool{}
	// Each tenant's secrets block, and whether its aws region and role are
	// good enough to check references against.
	type tenantSecrets struct {
		s         Secrets
		awsUsable bool
	}
	secretsOf := map[string]tenantSecrets{}
	for i, t := range c.Tenants {
		at := fmt.Sprintf("$.tenants[%d]", i)
		v.uniqueID(at+".id", "tenant", t.ID, tenants)
		usable := v.tenantSecrets(at+".secrets", t.Secrets, c.DevMode)
		if _, dup := secretsOf[t.ID]; !dup {
			secretsOf[t.ID] = tenantSecrets{t.Secrets, usable}
		}
		// The audit key is the tenant's secret too, read by its provider.
		v.audit(at+".audit", t.Audit, t.Secrets, usable, c.DevMode)
	}

	connTenant := map[string]string{}
	feedListens := map[string]string{}
	for i, cn := range c.Connections {
		at := fmt.Sprintf("$.connections[%d]", i)
		v.id(at+".id", cn.ID)
		if _, dup := connTenant[cn.ID]; dup {
			v.add(at+".id", fmt.Sprintf("connection %q listed twice", cn.ID))
		}
		connTenant[cn.ID] = cn.Tenant
		if !tenants[cn.Tenant] {
			v.add(at+".tenant", fmt.Sprintf("no tenant %q", cn.Tenant))
		}
		if !kinds[cn.Connector] {
			v.add(at+".connector", fmt.Sprintf("no plugin of kind %q in the catalog", cn.Connector))
		}
		v.baseURL(at+".base_url", cn)
		ts := secretsOf[cn.Tenant]
		v.auth(at+".auth", cn, ts.s, ts.awsUsable, c.DevMode)
		if cn.Timeout < 0 || cn.Timeout.D() > MaxConnectionTimeout {
			v.add(at+".timeout", fmt.Sprintf("must be between 0 and %s", MaxConnectionTimeout))
		}
		v.feed(at+".feed", cn, c.DevMode, feedListens)
	}

	clients := map[string]bool{}
	keys := map[string]string{}
	oauthIDs := map[[2]string]string{}
	for i, cl := range c.Clients {
		at := fmt.Sprintf("$.clients[%d]", i)
		v.uniqueID(at+".id", "client", cl.ID, clients)
		if !tenants[cl.Tenant] {
			v.add(at+".tenant", fmt.Sprintf("no tenant %q", cl.Tenant))
		}
		switch {
		case cl.APIKeySHA256 == "" && cl.OAuthClientID != "":
		case !hexSHA256.MatchString(cl.APIKeySHA256):
			v.add(at+".api_key_sha256", "must be 64 lowercase hex digits (the SHA-256 of the key); required unless oauth_client_id is set")
		case keys[cl.APIKeySHA256] != "":
			v.add(at+".api_key_sha256", fmt.Sprintf("same key as client %q", keys[cl.APIKeySHA256]))
		default:
			keys[cl.APIKeySHA256] = cl.ID
		}
		v.oauthClient(c, at, cl, oauthIDs)
		v.smartScopes(at, cl)
		v.policy(at, cl.Policy)
		for j, sc := range cl.Scopes {
			if sc != ScopeRead && sc != ScopePassthrough && sc != ScopeWrite {
				v.add(fmt.Sprintf("%s.scopes[%d]", at, j), fmt.Sprintf("unknown scope %q (read, write, passthrough)", sc))
			}
		}
		for j, id := range cl.Connections {
			t, ok := connTenant[id]
			switch {
			case !ok:
				v.add(fmt.Sprintf("%s.connections[%d]", at, j), fmt.Sprintf("no connection %q", id))
			case t != cl.Tenant:
				v.add(fmt.Sprintf("%s.connections[%d]", at, j), fmt.Sprintf("connection %q belongs to another tenant", id))
			}
		}
		v.webhooks(at, cl, secretsOf[cl.Tenant].s, secretsOf[cl.Tenant].awsUsable, c.DevMode)
	}
	v.issuers(c)
	v.checkCursor(c)
	v.resilience(c)
	v.residency(c)
	return v.problems
}

// cursorKeyID is the shape of a cursor key id, which every cursor carries.
var cursorKeyID = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

func (v *validator) checkCursor(c *Config) {
	if c.Cursor == nil {
		if !c.DevMode {
			v.add("$.cursor", "required (a shared key seals paging cursors; see docs/config.md)")
		}
		return
	}
	if len(c.Cursor.Keys) == 0 {
		v.add("$.cursor.keys", "at least one key is required")
	}
	ids := map[string]bool{}
	for i, k := range c.Cursor.Keys {
		at := fmt.Sprintf("$.cursor.keys[%d]", i)
		if !cursorKeyID.MatchString(k.ID) {
			v.add(at+".id", "must be 1 to 8 of [a-z0-9]")
		} else if ids[k.ID] {
			v.add(at+".id", fmt.Sprintf("key %q listed twice", k.ID))
		}
		ids[k.ID] = true
		scheme, _, _ := strings.Cut(k.SecretRef, ":")
		if scheme == "env" {
			// The operator's own secret: allowed outside dev_mode.
			v.secretRef(at+".secret_ref", k.SecretRef, true, true)
		} else {
			v.secretRef(at+".secret_ref", k.SecretRef, c.DevMode, true)
		}
	}
	if c.Cursor.TTL < 0 || c.Cursor.TTL.D() > MaxCursorTTL {
		v.add("$.cursor.ttl", fmt.Sprintf("must be between 0 and %s", MaxCursorTTL))
	}
	if c.Cursor.ChangesTTL < 0 || c.Cursor.ChangesTTL.D() > MaxChangesCursorTTL {
		v.add("$.cursor.changes_ttl", fmt.Sprintf("must be between 0 and %s", MaxChangesCursorTTL))
	}
}

type validator struct{ problems []Problem }

func (v *validator) add(path, msg string) {
	v.problems = append(v.problems, Problem{Path: path, Message: msg})
}

func (v *validator) id(path, id string) {
	if !idPattern.MatchString(id) {
		v.add(path, "must match [a-z0-9][a-z0-9_-]{0,62}")
	}
}

// uniqueID checks an id's shape and that no earlier entry of the same list
// used it, recording it in seen.
func (v *validator) uniqueID(path, what, id string, seen map[string]bool) {
	v.id(path, id)
	if seen[id] {
		v.add(path, fmt.Sprintf("%s %q listed twice", what, id))
	}
	seen[id] = true
}

func (v *validator) checkNode(c *Config) {
	for _, f := range []struct{ path, addr string }{
		{"$.node.listen", c.Node.Listen}, {"$.node.admin_listen", c.Node.AdminListen},
	} {
		if _, _, err := net.SplitHostPort(f.addr); err != nil {
			v.add(f.path, "must be host:port")
		}
	}
	if c.Node.Listen == c.Node.AdminListen {
		v.add("$.node.admin_listen", "must differ from node.listen")
	}
	v.id("$.node.region", c.Node.Region)
	if c.Node.TLS != nil {
		if c.Node.TLS.CertFile == "" {
			v.add("$.node.tls.cert_file", "required")
		}
		if c.Node.TLS.KeyFile == "" {
			v.add("$.node.tls.key_file", "required")
		}
	} else if !c.DevMode && !c.Node.InsecurePlaintext && !isLoopbackAddr(c.Node.Listen) {
		v.add("$.node.listen", "a non-loopback listener needs node.tls (or insecure_plaintext when TLS ends in front of Ferry)")
	}
}

func isLoopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (v *validator) baseURL(path string, cn Connection) {
	u, err := url.Parse(cn.BaseURL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		v.add(path, "must be an absolute http(s) URL")
		return
	case u.User != nil:
		v.add(path, "must not carry credentials; use auth")
	case u.RawQuery != "" || u.Fragment != "":
		v.add(path, "must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !cn.AllowInsecureHTTP {
			v.add(path, "http is refused unless allow_insecure_http is set")
		}
	case "mllp", "mllps":
		v.mllpURL(path, cn, u)
		return
	default:
		v.add(path, "scheme must be https, http, mllps or mllp")
	}
	if strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		v.add(path, "must not contain dot segments")
	}
}

// mllpURL checks the base URL of an HL7 v2 source reached over MLLP:
// mllps://host:port (TLS 1.2 or later) or mllp://host:port (plain TCP,
// refused unless allow_insecure_http is set, as http is). MLLP has no
// paths and carries no credentials, so the URL has no path and the
// connection's auth kind is none.
func (v *validator) mllpURL(path string, cn Connection, u *url.URL) {
	if u.Scheme == "mllp" && !cn.AllowInsecureHTTP {
		v.add(path, "mllp (plain TCP) is refused unless allow_insecure_http is set; use mllps")
	}
	if u.Port() == "" {
		v.add(path, "an MLLP source needs a port (mllps://host:port)")
	}
	if u.Path != "" && u.Path != "/" {
		v.add(path, "an MLLP source has no path")
	}
	if cn.Auth.Kind != "" && cn.Auth.Kind != AuthNone {
		v.add(path, `an MLLP source takes auth kind "none" (MLLP carries no credentials; use mllps and network policy)`)
	}
}

func (v *validator) secretRef(path, ref string, dev, required bool) {
	scheme, rest, ok := strings.Cut(ref, ":")
	switch {
	case ref == "" && required:
		v.add(path, "required")
	case ref == "":
	case !ok || rest == "":
		v.add(path, "must be a reference like env:NAME")
	case scheme == "env" || scheme == "literal":
		if !dev {
			v.add(path, fmt.Sprintf("%q references are allowed only with dev_mode", scheme))
		}
	default:
		// The message names the scheme only: the rest may be a secret
		// pasted by mistake.
		v.add(path, fmt.Sprintf("unknown reference scheme %q (env, literal)", scheme))
	}
}

// Hash is the SHA-256 of the config as loaded, hex: audit events carry it so
// an investigator knows which policy served a request.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
