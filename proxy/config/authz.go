package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/proxy/authz"
)

// Inbound authorization: the OAuth 2.0 issuers a tenant trusts, and what
// each client may see (docs/authorization.md).

// Issuer is an OAuth 2.0 authorization server whose JWT access tokens
// (RFC 9068) a tenant's clients may present instead of an API key.
type Issuer struct {
	// Issuer is the exact "iss" of its tokens. Required; https, or http
	// with dev_mode or allow_insecure_http.
	Issuer string `json:"issuer"`
	// JWKSURL is where its signing keys are published. Required; same
	// scheme rules as issuer. Fetched through the egress policy.
	JWKSURL string `json:"jwks_url"`
	// Audience must be among the token's "aud": this Ferry as the
	// authorization server knows it. Required.
	Audience string `json:"audience"`
	// Algorithms are the signature algorithms accepted, of RS256 RS384
	// RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA. "none" and HMAC
	// (HS*) are refused: a public key is no secret. Default ["RS256",
	// "ES256"].
	Algorithms []string `json:"algorithms,omitempty"`
	// ClockSkew is the leeway on exp, nbf and iat. Default "30s"; at most
	// "5m".
	ClockSkew Duration `json:"clock_skew,omitempty"`
	// JWKSRefetchInterval is the least time between two refetches of the
	// key set caused by an unknown kid. Default "1m"; at least "1s".
	JWKSRefetchInterval Duration `json:"jwks_refetch_interval,omitempty"`
	// JWKSRefreshInterval is how often the key set is fetched anew, so a
	// key the issuer removed stops being accepted. Default "5m"; at least
	// "1s".
	JWKSRefreshInterval Duration `json:"jwks_refresh_interval,omitempty"`
	// PatientClaim names the claim that carries the patient of a token
	// with patient/ scopes. Default "patient" (SMART).
	PatientClaim string `json:"patient_claim,omitempty"`
	// PurposeOfUseClaim names the claim that carries the purpose of use.
	// Default "purpose_of_use".
	PurposeOfUseClaim string `json:"purpose_of_use_claim,omitempty"`
	// AllowInsecureHTTP permits http issuer and JWKS URLs. Default false.
	AllowInsecureHTTP bool `json:"allow_insecure_http,omitempty"`
	// AllowPrivateNetwork permits a JWKS host on a loopback or private
	// address. Default false.
	AllowPrivateNetwork bool `json:"allow_private_network,omitempty"`
}

// Issuer defaults and bounds.
const (
	DefaultClockSkew           = 30 * time.Second
	MaxClockSkew               = 5 * time.Minute
	DefaultJWKSRefetchInterval = time.Minute
	DefaultJWKSRefreshInterval = 5 * time.Minute
	DefaultPatientClaim        = "patient"
	DefaultPurposeOfUseClaim   = "purpose_of_use"
)

// DefaultAlgorithms are the token signature algorithms accepted when an
// issuer names none.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// allowedAlgorithms are the asymmetric JWS algorithms; no "none", no HMAC.
var allowedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (is *Issuer) applyDefaults() {
	if len(is.Algorithms) == 0 {
		is.Algorithms = slices.Clone(DefaultAlgorithms)
	}
	if is.ClockSkew == 0 {
		is.ClockSkew = Duration(DefaultClockSkew)
	}
	if is.JWKSRefetchInterval == 0 {
		is.JWKSRefetchInterval = Duration(DefaultJWKSRefetchInterval)
	}
	if is.JWKSRefreshInterval == 0 {
		is.JWKSRefreshInterval = Duration(DefaultJWKSRefreshInterval)
	}
	if is.PatientClaim == "" {
		is.PatientClaim = DefaultPatientClaim
	}
	if is.PurposeOfUseClaim == "" {
		is.PurposeOfUseClaim = DefaultPurposeOfUseClaim
	}
}

// issuers checks every tenant's issuers; an (issuer, audience) pair names
// one tenant only, so a token finds its tenant without ambiguity.
func (v *validator) issuers(c *Config) {
	seen := map[[2]string]string{}
	for i, t := range c.Tenants {
		for j, is := range t.Issuers {
			at := fmt.Sprintf("$.tenants[%d].issuers[%d]", i, j)
			insecure := c.DevMode || is.AllowInsecureHTTP
			v.issuerURL(at+".issuer", is.Issuer, insecure)
			v.issuerURL(at+".jwks_url", is.JWKSURL, insecure)
			if is.Audience == "" {
				v.add(at+".audience", "required")
			}
			k := [2]string{is.Issuer, is.Audience}
			if other, dup := seen[k]; dup {
				v.add(at, fmt.Sprintf("issuer and audience already trusted by tenant %q", other))
			}
			seen[k] = t.ID
			for a, alg := range is.Algorithms {
				if !slices.Contains(allowedAlgorithms, alg) {
					v.add(fmt.Sprintf("%s.algorithms[%d]", at, a), fmt.Sprintf("algorithm %q not allowed (%s; never none or HMAC)", alg, strings.Join(allowedAlgorithms, " ")))
				}
			}
			if is.ClockSkew < 0 || is.ClockSkew.D() > MaxClockSkew {
				v.add(at+".clock_skew", fmt.Sprintf("must be between 0 and %s", MaxClockSkew))
			}
			if is.JWKSRefetchInterval.D() < time.Second {
				v.add(at+".jwks_refetch_interval", "must be at least 1s")
			}
			if is.JWKSRefreshInterval.D() < time.Second {
				v.add(at+".jwks_refresh_interval", "must be at least 1s")
			}
			if !claimName(is.PatientClaim) {
				v.add(at+".patient_claim", "must be 1 to 64 of [A-Za-z0-9_:.-]")
			}
			if !claimName(is.PurposeOfUseClaim) {
				v.add(at+".purpose_of_use_claim", "must be 1 to 64 of [A-Za-z0-9_:.-]")
			}
		}
	}
}

func (v *validator) issuerURL(path, raw string, insecure bool) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		v.add(path, "required")
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "":
		v.add(path, "must be an absolute URL with a host, no user info or fragment")
	case u.Scheme == "https":
	case u.Scheme == "http" && insecure:
	default:
		v.add(path, "must be https (http needs dev_mode or allow_insecure_http)")
	}
}

func claimName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("_:.-", c)) {
			return false
		}
	}
	return true
}

// oauthClient checks a client's oauth_client_id: unique in its tenant, and
// only where the tenant trusts an issuer.
func (v *validator) oauthClient(c *Config, at string, cl Client, seen map[[2]string]string) {
	if cl.OAuthClientID == "" {
		return
	}
	path := at + ".oauth_client_id"
	if len(cl.OAuthClientID) > 256 || strings.ContainsFunc(cl.OAuthClientID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		v.add(path, "must be 1 to 256 characters, no control characters")
	}
	k := [2]string{cl.Tenant, cl.OAuthClientID}
	if other, dup := seen[k]; dup {
		v.add(path, fmt.Sprintf("same oauth_client_id as client %q", other))
	}
	seen[k] = cl.ID
	for _, t := range c.Tenants {
		if t.ID == cl.Tenant && len(t.Issuers) == 0 {
			v.add(path, fmt.Sprintf("tenant %q trusts no issuer (tenants[].issuers)", cl.Tenant))
		}
	}
}

func (v *validator) smartScopes(at string, cl Client) {
	for i, sc := range cl.SMARTScopes {
		if _, err := authz.ParseScope(sc); err != nil {
			v.add(fmt.Sprintf("%s.smart_scopes[%d]", at, i), fmt.Sprintf("scope %q: %v", sc, err))
		}
	}
}
