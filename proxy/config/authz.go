package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/proxy/authz"
	"github.com/ferryhealth/ferry/unified"
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
		parsed, err := authz.ParseScope(sc)
		switch {
		case err != nil:
			v.add(fmt.Sprintf("%s.smart_scopes[%d]", at, i), fmt.Sprintf("scope %q: %v", sc, err))
		case parsed.Context == authz.ContextPatient && cl.OAuthClientID == "":
			// An API key names no patient: the scope could never be used.
			v.add(fmt.Sprintf("%s.smart_scopes[%d]", at, i), "a patient/ scope needs a token's patient claim: set oauth_client_id")
		}
	}
}

// Policy is a client's minimum-necessary policy, for API keys and tokens
// alike: what it may read, of which fields, and why (docs/authorization.md).
// The connections it may use are its connections list.
type Policy struct {
	// Resources are the unified resources the client may use. Default:
	// every resource.
	Resources []string `json:"resources,omitempty"`
	// Operations are what it may do with them: read, search (create and
	// update when the unified API has writes). Default: every operation.
	Operations []string `json:"operations,omitempty"`
	// Fields restrict the top-level fields of a resource's records, by
	// unified resource: an allowlist or a denylist, applied by the host
	// after the plugin like fields=. "id" is always kept. raw=true is
	// refused for a resource with a field policy.
	Fields map[string]FieldPolicy `json:"fields,omitempty"`
	// PurposeOfUse says what the client must declare. Default: nothing.
	PurposeOfUse *PurposeOfUsePolicy `json:"purpose_of_use,omitempty"`
	// Pseudonyms, when set, replace every id the client sees (records',
	// references', source ids) with stateless pseudonyms it uses in later
	// requests; raw and passthrough are refused. Default: none.
	Pseudonyms *Pseudonyms `json:"pseudonyms,omitempty"`
}

// Pseudonyms configures a client's pseudonyms (docs/authorization.md).
type Pseudonyms struct {
	// Identifiers is what becomes of identifier values in records (MRNs,
	// SSNs…): "drop" (default) or "tokenize" (each value sealed, per
	// identifier system).
	Identifiers string `json:"identifiers,omitempty"`
}

// The pseudonyms identifier modes.
const (
	IdentifiersDrop     = "drop"
	IdentifiersTokenize = "tokenize"
)

// FieldPolicy is an allowlist or a denylist of a resource's fields; one of
// the two.
type FieldPolicy struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// PurposeOfUsePolicy is what a client must declare, as an HL7
// PurposeOfUse code in X-Purpose-Of-Use or its token's purpose-of-use
// claim.
type PurposeOfUsePolicy struct {
	// Required refuses a request that declares none. Default false.
	Required bool `json:"required,omitempty"`
	// Allowed are the codes it may declare. Default: any of the value
	// set but BTG.
	Allowed []string `json:"allowed,omitempty"`
	// BreakGlass lets it declare BTG (break-glass): served like any
	// other purpose, widening nothing, and audited with
	// security_alert. Default false: BTG is refused with 403.
	BreakGlass bool `json:"break_glass,omitempty"`
}

// The policy operations.
var policyOperations = []string{"read", "search", "create", "update"}

func (v *validator) policy(at string, p *Policy) {
	if p == nil {
		return
	}
	at += ".policy"
	for i, r := range p.Resources {
		if !unified.ResourceType(r).Known() {
			v.add(fmt.Sprintf("%s.resources[%d]", at, i), fmt.Sprintf("no unified resource %q", r))
		}
	}
	for i, op := range p.Operations {
		if !slices.Contains(policyOperations, op) {
			v.add(fmt.Sprintf("%s.operations[%d]", at, i), fmt.Sprintf("unknown operation %q (%s)", op, strings.Join(policyOperations, ", ")))
		}
	}
	for r, fp := range p.Fields {
		fat := fmt.Sprintf("%s.fields.%s", at, r)
		known := unified.ResourceType(r).Fields()
		if known == nil {
			v.add(fat, fmt.Sprintf("no unified resource %q", r))
			continue
		}
		if (len(fp.Allow) == 0) == (len(fp.Deny) == 0) {
			v.add(fat, "exactly one of allow and deny")
		}
		for name, list := range map[string][]string{"allow": fp.Allow, "deny": fp.Deny} {
			for i, f := range list {
				if !slices.Contains(known, f) {
					v.add(fmt.Sprintf("%s.%s[%d]", fat, name, i), fmt.Sprintf("%s has no field %q", r, f))
				} else if f == "id" && name == "deny" {
					v.add(fmt.Sprintf("%s.%s[%d]", fat, name, i), "id is always kept")
				}
			}
		}
	}
	if ps := p.Pseudonyms; ps != nil {
		switch ps.Identifiers {
		case "", IdentifiersDrop, IdentifiersTokenize:
		default:
			v.add(at+".pseudonyms.identifiers", "must be drop or tokenize")
		}
	}
	if pu := p.PurposeOfUse; pu != nil {
		for i, c := range pu.Allowed {
			if !PurposeOfUse(c) {
				v.add(fmt.Sprintf("%s.purpose_of_use.allowed[%d]", at, i), fmt.Sprintf("%q is not an HL7 PurposeOfUse code", c))
			}
			if c == PurposeBreakGlass && !pu.BreakGlass {
				v.add(fmt.Sprintf("%s.purpose_of_use.allowed[%d]", at, i), "BTG needs break_glass: true")
			}
		}
	}
}

// PurposeBreakGlass is HL7's break-the-glass purpose of use.
const PurposeBreakGlass = "BTG"

// PurposeOfUse reports whether code is in HL7's PurposeOfUse value set
// (terminology.hl7.org/ValueSet/v3-PurposeOfUse).
func PurposeOfUse(code string) bool { return purposesOfUse[code] != "" }

// PurposeOfUseCode returns the value set's own string for code, so a
// lookup with a request's bytes keeps nothing of the request.
func PurposeOfUseCode(code []byte) (string, bool) {
	c, ok := purposesOfUse[string(code)]
	return c, ok
}

var purposesOfUse = func() map[string]string {
	m := map[string]string{}
	for _, c := range []string{
		"PurposeOfUse", "HMARKT", "HOPERAT", "CAREMGT", "DONAT", "FRAUD", "GOV", "HACCRED", "HCOMPL",
		"HDECD", "HDIRECT", "HDM", "HLEGAL", "HOUTCOMS", "HPRGRP", "HQUALIMP", "HSYSADMIN", "LABELING",
		"METAMGT", "MEMADMIN", "MILCDM", "PATADMIN", "PATSFTY", "PERFMSR", "RECORDMGT", "SYSDEV",
		"HTEST", "TRAIN", "HPAYMT", "CLMATTCH", "COVAUTH", "COVERAGE", "ELIGDTRM", "ELIGVER", "ENROLLM",
		"MILDCRG", "REMITADV", "HRESCH", "BIORCH", "CLINTRCH", "CLINTRCHNPC", "CLINTRCHPC", "PRECLINTRCH",
		"DSRCH", "POARCH", "TRANSRCH", "PATRQT", "FAMRQT", "PWATRNY", "SUPNWK", "PUBHLTH", "DISASTER",
		"THREAT", "TREAT", "CLINTRL", "COC", "ETREAT", "BTG", "ERTREAT", "POPHLTH",
	} {
		m[c] = c
	}
	return m
}()
