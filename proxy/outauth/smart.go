package outauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// SMART Backend Services constants
// (https://hl7.org/fhir/smart-app-launch/backend-services.html).
const (
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// MaxAssertionLifetime is SMART's limit on exp - now.
	MaxAssertionLifetime = 5 * time.Minute
	// DefaultAssertionLifetime leaves a minute for clock differences.
	DefaultAssertionLifetime = 4 * time.Minute

	AlgRS384 = "RS384"
	AlgES384 = "ES384"
)

// SMARTConfig configures a SMART Backend Services client.
type SMARTConfig struct {
	// TokenURL is the token endpoint; it is also the assertion's aud.
	// Required.
	TokenURL string
	// ClientID is the registered client id: the assertion's iss and sub.
	// Required.
	ClientID string
	// Scopes, e.g. "system/Patient.rs". SMART requires at least one.
	Scopes []string
	// Key gives the private key: a PEM (PKCS#8 "PRIVATE KEY", PKCS#1 "RSA
	// PRIVATE KEY" or SEC 1 "EC PRIVATE KEY"), or a JSON object
	// {"private_key": "<PEM>", "kid": "..."} so key and kid rotate
	// together. Required.
	Key SecretSource
	// KeyID is the JWT header's kid; it wins over the secret's kid. Optional.
	KeyID string
	// Algorithm is AlgRS384 or AlgES384; default from the key (RSA: RS384,
	// P-384: ES384).
	Algorithm string
	// AssertionLifetime is exp - now. Default 4m, at most 5m.
	AssertionLifetime time.Duration

	Options
}

// SMARTBackend is a SMART Backend Services token source.
type SMARTBackend struct {
	tokenCache
	cfg SMARTConfig
}

var (
	_ TokenSource   = (*SMARTBackend)(nil)
	_ Authenticator = (*SMARTBackend)(nil)
)

// NewSMARTBackend checks cfg; it makes no call and does not read the key.
func NewSMARTBackend(cfg SMARTConfig) (*SMARTBackend, error) {
	var problems []string
	if err := checkTokenURL(cfg.TokenURL, cfg.AllowHTTP); err != nil {
		problems = append(problems, err.Error())
	}
	if cfg.ClientID == "" {
		problems = append(problems, "client_id is required")
	}
	if len(cfg.Scopes) == 0 {
		problems = append(problems, "at least one scope is required")
	}
	if cfg.Key == nil {
		problems = append(problems, "the private key secret is required")
	}
	switch cfg.Algorithm {
	case "", AlgRS384, AlgES384:
	default:
		problems = append(problems, "algorithm must be RS384 or ES384")
	}
	if cfg.AssertionLifetime <= 0 {
		cfg.AssertionLifetime = DefaultAssertionLifetime
	}
	if cfg.AssertionLifetime > MaxAssertionLifetime {
		problems = append(problems, "assertion lifetime must be at most 5m")
	}
	if len(problems) > 0 {
		return nil, errors.New("outauth: smart backend services: " + strings.Join(problems, "; "))
	}
	cfg.setDefaults()
	s := &SMARTBackend{cfg: cfg}
	s.tokenCache.o = cfg.Options
	s.tokenCache.fetch = s.fetchToken
	return s, nil
}

// Fetches is the number of token requests made.
func (s *SMARTBackend) Fetches() uint64 { return s.fetches.Load() }

func (s *SMARTBackend) fetchToken(ctx context.Context) (*Token, error) {
	keySecret, err := s.cfg.Key.Secret(ctx, false)
	if err != nil {
		return nil, &Error{Kind: ErrCredential, cause: err}
	}
	t, err := s.post(ctx, keySecret)
	if !refusedClient(err) {
		return t, err
	}
	// The endpoint refused our assertion: the key may have rotated.
	fresh, ferr := s.cfg.Key.Secret(ctx, true)
	if ferr != nil || fresh.Equal(keySecret) {
		return nil, err
	}
	return s.post(ctx, fresh)
}

func (s *SMARTBackend) post(ctx context.Context, keySecret secrets.Value) (*Token, error) {
	assertion, err := s.Assertion(keySecret)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {strings.Join(s.cfg.Scopes, " ")},
		"client_assertion_type": {ClientAssertionType},
		"client_assertion":      {assertion},
	}
	return exchange(ctx, &s.cfg.Options, s.cfg.TokenURL, form, nil)
}

// Assertion signs a fresh client assertion with the key in keySecret:
// iss = sub = client id, aud = token URL, a random jti, iat = now,
// exp = now + AssertionLifetime.
func (s *SMARTBackend) Assertion(keySecret secrets.Value) (string, error) {
	key, kid, err := parseKey(keySecret)
	if err != nil {
		return "", err
	}
	if s.cfg.KeyID != "" {
		kid = s.cfg.KeyID
	}
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 || s.cfg.Algorithm == AlgES384 {
			return "", &Error{Kind: ErrBadKey}
		}
		alg = jose.RS384
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P384() || s.cfg.Algorithm == AlgRS384 {
			return "", &Error{Kind: ErrBadKey}
		}
		alg = jose.ES384
	default:
		return "", &Error{Kind: ErrBadKey}
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", &Error{Kind: ErrBadKey}
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", &Error{Kind: ErrBadKey, cause: err}
	}
	now := s.cfg.Now()
	claims := jwt.Claims{
		Issuer: s.cfg.ClientID, Subject: s.cfg.ClientID,
		Audience: jwt.Audience{s.cfg.TokenURL},
		ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(s.cfg.AssertionLifetime)),
	}
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", &Error{Kind: ErrBadKey}
	}
	return out, nil
}

// parseKey reads a PEM private key, or a JSON object holding one and its
// kid. Errors never carry the key's text (the x509 errors are dropped too).
func parseKey(v secrets.Value) (any, string, error) {
	b := v.Reveal()
	kid := ""
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		var j struct {
			PrivateKey string `json:"private_key"`
			KeyID      string `json:"kid"`
		}
		if json.Unmarshal(b, &j) != nil || j.PrivateKey == "" {
			return nil, "", &Error{Kind: ErrBadKey, cause: errors.New("JSON secret without a private_key string")}
		}
		b, kid = []byte(j.PrivateKey), j.KeyID
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, "", &Error{Kind: ErrBadKey, cause: errors.New("no PEM block")}
	}
	if _, encrypted := block.Headers["Proc-Type"]; encrypted {
		return nil, "", &Error{Kind: ErrBadKey, cause: errors.New("encrypted PEM is not supported")}
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, "", &Error{Kind: ErrBadKey, cause: fmt.Errorf("PEM block %q is not a private key", safeLabel(block.Type))}
	}
	if err != nil {
		return nil, "", &Error{Kind: ErrBadKey, cause: errors.New("PEM key does not parse")}
	}
	return key, kid, nil
}

func safeLabel(s string) string {
	if len(s) > 32 {
		return "?"
	}
	return s
}

// Credential implements Authenticator: "Authorization: Bearer <token>".
func (s *SMARTBackend) Credential(ctx context.Context) (Credential, error) {
	return bearerFromToken(ctx, &s.tokenCache)
}

// Rejected implements Authenticator.
func (s *SMARTBackend) Rejected(_ context.Context, cr Credential) bool {
	return s.rejected(cr.gen, cr.fetched)
}
