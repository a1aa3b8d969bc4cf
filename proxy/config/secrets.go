package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/proxy/secrets/awssm"
)

// Defaults and bounds of the tenant secrets settings.
const (
	DefaultSecretsCacheTTL = 5 * time.Minute
	// DefaultMinForcedRefresh is secrets.min_forced_refresh's default.
	DefaultMinForcedRefresh = 5 * time.Second
	MinSecretsCacheTTL      = time.Second
	MaxSecretsCacheTTL      = time.Hour
)

var (
	// roleARN is an IAM role ARN; awssm derives the tenant's account from
	// it, and refuses references to any other account.
	roleARN = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	// externalID is STS's alphabet and length for ExternalId.
	externalID = regexp.MustCompile(`^[A-Za-z0-9+=,.@:/_-]+$`)
	// scopeToken is an RFC 6749 §3.3 scope-token.
	scopeToken = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]{1,256}$`)
	// visible is a value sent in a form or a header: visible ASCII.
	visible = regexp.MustCompile(`^[\x21-\x7e]{1,256}$`)
)

// tenantSecrets checks a tenant's secrets block. It reports whether the
// block names an aws provider whose region and role are usable for checking
// the tenant's references against.
func (v *validator) tenantSecrets(path string, s Secrets, dev bool) (awsUsable bool) {
	onlyAWS := func(field string, set bool) {
		if set {
			v.add(path+"."+field, `only for provider "aws"`)
		}
	}
	switch s.Provider {
	case SecretsAWS:
		ok := true
		if !awssm.ValidRegion(s.Region) {
			v.add(path+".region", "required: an AWS region such as eu-west-1")
			ok = false
		}
		if !roleARN.MatchString(s.RoleARN) {
			v.add(path+".role_arn", `required: an IAM role ARN such as "arn:aws:iam::111111111111:role/ferry-reader"`)
			ok = false
		}
		// The ExternalId is not a secret (it guards against the confused
		// deputy, not against reading), but it is not echoed either.
		if len(s.ExternalID) < 2 || len(s.ExternalID) > 1224 || !externalID.MatchString(s.ExternalID) {
			v.add(path+".external_id", "required: 2 to 1224 of A-Z a-z 0-9 + = , . @ : / _ -")
		}
		if s.Endpoint != "" {
			v.awsEndpoint(path+".endpoint", s.Endpoint)
		}
		if s.CacheTTL.D() < MinSecretsCacheTTL || s.CacheTTL.D() > MaxSecretsCacheTTL {
			v.add(path+".cache_ttl", fmt.Sprintf("must be between %s and %s", MinSecretsCacheTTL, MaxSecretsCacheTTL))
		}
		if d := s.MinForcedRefresh.D(); d < 100*time.Millisecond || d > 10*time.Minute {
			v.add(path+".min_forced_refresh", "must be between 100ms and 10m")
		}
		return ok
	case SecretsEnv:
		if !dev {
			v.add(path+".provider", `"env" is allowed only with dev_mode`)
		}
	case "":
		v.add(path+".provider", "required (aws, or env with dev_mode)")
	default:
		v.add(path+".provider", fmt.Sprintf("unknown provider %q (aws, env)", s.Provider))
	}
	onlyAWS("region", s.Region != "")
	onlyAWS("role_arn", s.RoleARN != "")
	onlyAWS("external_id", s.ExternalID != "")
	onlyAWS("endpoint", s.Endpoint != "")
	onlyAWS("cache_ttl", s.CacheTTL != 0)
	onlyAWS("min_forced_refresh", s.MinForcedRefresh != 0)
	return false
}

// awsEndpoint accepts https anywhere, and plain http only on the loopback
// interface (an emulator beside the tests), so an endpoint override cannot
// send signed AWS requests in clear over a network.
func (v *validator) awsEndpoint(path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		v.add(path, "must be an absolute URL without credentials, query or fragment")
		return
	}
	switch h := u.Hostname(); {
	case u.Scheme == "https":
	case u.Scheme == "http" && (h == "127.0.0.1" || h == "localhost" || h == "::1"):
	default:
		v.add(path, "must be https, or http on 127.0.0.1, localhost or [::1]")
	}
}

// tenantRef checks a secret reference against the provider of the tenant
// that owns it: an aws tenant's references are secret ARNs in the tenant's
// region and in its role's account, so no tenant can name another's secret.
// The messages never repeat the reference: it may be a secret pasted into
// the wrong field.
func (v *validator) tenantRef(path, ref string, s Secrets, awsUsable, dev bool) {
	if s.Provider != SecretsAWS {
		v.secretRef(path, ref, dev, true)
		return
	}
	var err error
	switch {
	case ref == "":
		v.add(path, "required")
		return
	case !strings.HasPrefix(ref, "arn:"):
		scheme, _, _ := strings.Cut(ref, ":")
		if len(scheme) > 16 {
			scheme = scheme[:16]
		}
		v.add(path, fmt.Sprintf(`the tenant's secrets provider is "aws": want a secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX[#field]), not %q`, scheme+":…"))
		return
	case awsUsable:
		err = awssm.ValidateRef(ref, s.Region, s.RoleARN)
	default:
		_, err = awssm.ParseRef(ref)
	}
	if err != nil {
		v.add(path, strings.TrimPrefix(err.Error(), "awssm: "))
	}
}

// auth checks a connection's outbound auth against its kind and its
// tenant's secrets provider.
func (v *validator) auth(path string, cn Connection, s Secrets, awsUsable, dev bool) {
	a := cn.Auth
	unused := func(field string, set bool) {
		if set {
			v.add(path+"."+field, fmt.Sprintf("not used by kind %q", a.Kind))
		}
	}
	tokenFields := func(allowed bool) {
		if allowed {
			return
		}
		unused("token_url", a.TokenURL != "")
		unused("client_id", a.ClientID != "")
		unused("scopes", a.Scopes != nil)
	}
	switch a.Kind {
	case AuthNone:
		if a.SecretRef != "" {
			v.add(path+".secret_ref", `must be empty for kind "none"`)
		}
		tokenFields(false)
	case AuthBearer, AuthBasic, AuthAPIKey:
		v.tenantRef(path+".secret_ref", a.SecretRef, s, awsUsable, dev)
		tokenFields(false)
	case AuthOAuth2ClientCreds, AuthSMARTBackendServices:
		v.tenantRef(path+".secret_ref", a.SecretRef, s, awsUsable, dev)
		v.tokenURL(path+".token_url", a.TokenURL, dev || cn.AllowInsecureHTTP)
		smart := a.Kind == AuthSMARTBackendServices
		switch {
		case a.ClientID == "" && smart:
			v.add(path+".client_id", "required (the assertion's iss and sub)")
		case a.ClientID != "" && !visible.MatchString(a.ClientID):
			v.add(path+".client_id", "must be 1 to 256 visible ASCII characters")
		}
		if smart && len(a.Scopes) == 0 {
			v.add(path+".scopes", `at least one scope is required (e.g. "system/Patient.rs")`)
		}
		for i, sc := range a.Scopes {
			if !scopeToken.MatchString(sc) {
				v.add(fmt.Sprintf("%s.scopes[%d]", path, i), "must be an OAuth2 scope token: visible ASCII, no space, quote or backslash")
			}
		}
	case "":
		v.add(path+".kind", "required (none, bearer, basic, api_key, oauth2_client_credentials, smart_backend_services)")
	default:
		v.add(path+".kind", fmt.Sprintf("unknown kind %q (none, bearer, basic, api_key, oauth2_client_credentials, smart_backend_services)", a.Kind))
	}
	switch {
	case a.Kind != AuthOAuth2ClientCreds:
		unused("client_auth", a.ClientAuth != "")
	case a.ClientAuth != ClientSecretBasic && a.ClientAuth != ClientSecretPost:
		v.add(path+".client_auth", fmt.Sprintf("must be %q or %q", ClientSecretBasic, ClientSecretPost))
	}
	switch {
	case a.Kind != AuthSMARTBackendServices:
		unused("algorithm", a.Algorithm != "")
		unused("key_id", a.KeyID != "")
	default:
		if a.Algorithm != "" && a.Algorithm != "RS384" && a.Algorithm != "ES384" {
			v.add(path+".algorithm", `must be "RS384" or "ES384"`)
		}
		if a.KeyID != "" && !visible.MatchString(a.KeyID) {
			v.add(path+".key_id", "must be 1 to 256 visible ASCII characters")
		}
	}
	if a.Header != "" && !headerName.MatchString(a.Header) {
		v.add(path+".header", "must be an HTTP header name")
	}
	if a.Header != "" && a.Kind != AuthAPIKey {
		v.add(path+".header", `only for kind "api_key"`)
	}
}

// tokenURL accepts an absolute https URL (http when allowed) without user
// info or fragment: the token request carries the client's credential.
func (v *validator) tokenURL(path, raw string, allowHTTP bool) {
	if raw == "" {
		v.add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		v.add(path, "must be an absolute https URL")
		return
	case u.User != nil:
		v.add(path, "must not carry credentials")
	case u.Fragment != "":
		v.add(path, "must not have a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTP {
			v.add(path, "http is refused unless dev_mode or the connection's allow_insecure_http is set")
		}
	default:
		v.add(path, "scheme must be https")
	}
}
