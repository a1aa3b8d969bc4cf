package outauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// AuthStyle is how client_credentials sends the client secret.
type AuthStyle int

const (
	// AuthBasic sends client_secret_basic (RFC 6749 §2.3.1): the default.
	AuthBasic AuthStyle = iota
	// AuthInParams sends client_secret_post: client_id and client_secret in
	// the form.
	AuthInParams
)

// ClientCredentialsConfig configures an OAuth2 client_credentials grant.
type ClientCredentialsConfig struct {
	// TokenURL is the token endpoint. Required.
	TokenURL string
	// ClientID is the client id; may be empty when the secret is a JSON
	// object carrying client_id.
	ClientID string
	// ClientSecret gives the client secret: the secret itself, or a JSON
	// object {"client_id": "...", "client_secret": "..."} (its client_id,
	// when present, wins over ClientID, so both rotate together). Required.
	ClientSecret SecretSource
	// Scopes are sent space-separated as "scope", when any.
	Scopes []string
	// AuthStyle: AuthBasic (default) or AuthInParams.
	AuthStyle AuthStyle
	// ExtraParams are added to the form (e.g. "audience"); non-secret.
	ExtraParams url.Values

	Options
}

// ClientCredentials is an OAuth2 client_credentials token source.
type ClientCredentials struct {
	tokenCache
	cfg ClientCredentialsConfig
}

var (
	_ TokenSource   = (*ClientCredentials)(nil)
	_ Authenticator = (*ClientCredentials)(nil)
)

// NewClientCredentials checks cfg; it makes no call.
func NewClientCredentials(cfg ClientCredentialsConfig) (*ClientCredentials, error) {
	if err := checkTokenURL(cfg.TokenURL, cfg.AllowHTTP); err != nil {
		return nil, fmt.Errorf("outauth: %w", err)
	}
	if cfg.ClientSecret == nil {
		return nil, errors.New("outauth: client_secret is required")
	}
	for k := range cfg.ExtraParams {
		switch k {
		case "grant_type", "scope", "client_id", "client_secret", "client_assertion", "client_assertion_type":
			return nil, fmt.Errorf("outauth: extra parameter %q is set by Ferry", k)
		}
	}
	cfg.setDefaults()
	c := &ClientCredentials{cfg: cfg}
	c.tokenCache.o = cfg.Options
	c.tokenCache.fetch = c.fetchToken
	return c, nil
}

// Fetches is the number of token requests made (for tests and metrics).
func (c *ClientCredentials) Fetches() uint64 { return c.fetches.Load() }

func (c *ClientCredentials) fetchToken(ctx context.Context) (*Token, error) {
	secret, err := c.cfg.ClientSecret.Secret(ctx, false)
	if err != nil {
		return nil, &Error{Kind: ErrCredential, cause: err}
	}
	t, err := c.post(ctx, secret)
	if !refusedClient(err) {
		return t, err
	}
	// The endpoint refused the client: the secret may have rotated.
	fresh, ferr := c.cfg.ClientSecret.Secret(ctx, true)
	if ferr != nil || fresh.Equal(secret) {
		return nil, err
	}
	return c.post(ctx, fresh)
}

func (c *ClientCredentials) post(ctx context.Context, secret secrets.Value) (*Token, error) {
	id, sec, err := clientSecret(c.cfg.ClientID, secret)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(c.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(c.cfg.Scopes, " "))
	}
	for k, vs := range c.cfg.ExtraParams {
		form[k] = vs
	}
	var auth func(*http.Request)
	if c.cfg.AuthStyle == AuthInParams {
		form.Set("client_id", id)
		form.Set("client_secret", sec)
	} else {
		auth = func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec)) }
	}
	return exchange(ctx, &c.cfg.Options, c.cfg.TokenURL, form, auth)
}

// clientSecret reads the secret: plain, or a JSON object.
func clientSecret(id string, v secrets.Value) (string, string, error) {
	b := v.Reveal()
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "{") {
		var j struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if json.Unmarshal(b, &j) != nil || j.ClientSecret == "" {
			return "", "", &Error{Kind: ErrCredential, cause: errors.New("secret is a JSON object without a client_secret string")}
		}
		if j.ClientID != "" {
			id = j.ClientID
		}
		if id == "" {
			return "", "", &Error{Kind: ErrCredential, cause: errors.New("no client_id")}
		}
		return id, j.ClientSecret, nil
	}
	if len(b) == 0 || id == "" {
		return "", "", &Error{Kind: ErrCredential, cause: errors.New("empty client secret or client_id")}
	}
	return id, string(b), nil
}

// refusedClient reports whether the endpoint refused the client's own
// credential (rather than, say, the scope).
func refusedClient(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrRejected {
		return false
	}
	return e.OAuthCode == "invalid_client" || e.OAuthCode == "unauthorized_client" ||
		e.Status == http.StatusUnauthorized || e.OAuthCode == "invalid_grant" && e.Status == http.StatusBadRequest
}

// Credential implements Authenticator: "Authorization: Bearer <token>".
func (c *ClientCredentials) Credential(ctx context.Context) (Credential, error) {
	return bearerFromToken(ctx, &c.tokenCache)
}

// Rejected implements Authenticator.
func (c *ClientCredentials) Rejected(_ context.Context, cr Credential) bool {
	return c.rejected(cr.gen, cr.fetched)
}
