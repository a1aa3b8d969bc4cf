package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/proxy/config"
)

// ErrInvalidToken is every reason a token is refused: the client learns
// only that it was (RFC 6750 invalid_token), never which check failed.
var ErrInvalidToken = errors.New("identity: invalid token")

// maxTokenLen bounds a token Ferry will parse.
const maxTokenLen = 8 << 10

// Token is what a valid access token says.
type Token struct {
	// Tenant is the tenant whose issuer signed it.
	Tenant string
	Issuer string
	// ClientID is its client_id claim, or sub when it has none.
	ClientID string
	Subject  string
	// Scopes are its scope claim, split on spaces.
	Scopes []string
	// Patient is the patient claim (SMART's "patient", or the issuer's
	// patient_claim); "" when absent.
	Patient string
	// PurposeOfUse is the purpose-of-use claim as written; the caller
	// checks it against HL7's value set.
	PurposeOfUse string
	Expiry       time.Time
	// Grant is what Options.Grant made of the token once, when it was
	// validated, so a cached token is not read again per request.
	Grant any
}

// HTTPClient returns the client that fetches an issuer's key set, given
// whether it may reach private addresses: the egress policy's dialer, no
// redirects, a size cap (the proxy builds it; tests may give their own).
type HTTPClient func(allowPrivate bool) *http.Client

// Options are a Verifier's collaborators.
type Options struct {
	HTTP  HTTPClient
	Clock clock.Clock
	// CacheSize bounds the validated-token table; default 10000.
	CacheSize int
	// Grant, when set, is called once per validated token; its result is
	// kept in Token.Grant.
	Grant func(*Token) any
}

// Verifier validates access tokens against one config's issuers.
type Verifier struct {
	byIssuer map[string][]*issuer
	cache    *tokenCache
	clock    clock.Clock
	cancel   context.CancelFunc
	grant    func(*Token) any
}

type issuer struct {
	tenant string
	cfg    config.Issuer
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
}

// jwksFetchTimeout bounds one fetch of a key set; a request waiting for a
// refetch on an unknown kid waits no longer.
const jwksFetchTimeout = 5 * time.Second

// New builds the Verifier of every issuer of c's tenants. Key sets are
// fetched in the background; an issuer that cannot be reached at start
// refuses its tokens until it can.
func New(c *config.Config, o Options) (*Verifier, error) {
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	clk := clock.Or(o.Clock)
	ctx, cancel := context.WithCancel(context.Background())
	v := &Verifier{byIssuer: map[string][]*issuer{}, cache: newTokenCache(o.CacheSize), clock: clk, cancel: cancel, grant: o.Grant}
	noFail := true
	for _, t := range c.Tenants {
		for _, is := range t.Issuers {
			client := http.DefaultClient
			if o.HTTP != nil {
				client = o.HTTP(is.AllowPrivateNetwork)
			}
			kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{is.JWKSURL}, keyfunc.Override{
				Client:                    client,
				HTTPTimeout:               jwksFetchTimeout,
				NoErrorReturnFirstHTTPReq: &noFail,
				RateLimitWaitMax:          jwksFetchTimeout,
				RefreshInterval:           is.JWKSRefreshInterval.D(),
				RefreshUnknownKID:         rate.NewLimiter(rate.Every(is.JWKSRefetchInterval.D()), 1),
				// A refresh failure names the URL and the error, not a
				// token: nothing of a request reaches this log.
				RefreshErrorHandlerFunc: func(string) func(context.Context, error) { return func(context.Context, error) {} },
			})
			if err != nil {
				cancel()
				return nil, fmt.Errorf("tenant %q: issuer %q: %w", t.ID, is.Issuer, err)
			}
			p := jwt.NewParser(
				jwt.WithValidMethods(is.Algorithms),
				jwt.WithIssuer(is.Issuer),
				jwt.WithAudience(is.Audience),
				jwt.WithLeeway(is.ClockSkew.D()),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithTimeFunc(clk.Now),
			)
			v.byIssuer[is.Issuer] = append(v.byIssuer[is.Issuer], &issuer{tenant: t.ID, cfg: is, keys: kf, parser: p})
		}
	}
	return v, nil
}

// Close stops the key sets' background refresh.
func (v *Verifier) Close() { v.cancel() }

// Empty reports whether no tenant trusts an issuer.
func (v *Verifier) Empty() bool { return len(v.byIssuer) == 0 }

// LooksLikeJWT reports whether a bearer credential has a JWS compact
// serialization's shape (three dot-separated parts), so API keys, which
// have no dot, never reach the parser.
func LooksLikeJWT(b []byte) bool { return bytes.Count(b, dot) == 2 }

var dot = []byte{'.'}

// Verify validates a token and says what it carries. ctx bounds a refetch
// of a key set on an unknown kid.
func (v *Verifier) Verify(ctx context.Context, raw []byte) (*Token, error) {
	if len(raw) == 0 || len(raw) > maxTokenLen {
		return nil, ErrInvalidToken
	}
	key := sha256.Sum256(raw)
	now := v.clock.Now()
	if t := v.cache.get(key, now); t != nil {
		return t, nil
	}
	t, err := v.verify(ctx, string(raw))
	if err != nil {
		return nil, ErrInvalidToken
	}
	if v.grant != nil {
		t.Grant = v.grant(t)
	}
	v.cache.put(key, t, now)
	return t, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Token, error) {
	// The issuer is read before the signature is checked only to choose
	// whose keys and rules check it; nothing else of the unverified token
	// is used.
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &peek); err != nil {
		return nil, err
	}
	for _, is := range v.byIssuer[peek.Issuer] {
		if !slices.Contains(peek.Audience, is.cfg.Audience) {
			continue
		}
		tok, err := is.parser.Parse(raw, func(t *jwt.Token) (any, error) {
			// RFC 9068 §4: an access token is typed at+jwt; a plain JWT
			// (an ID token, say) is accepted only without a typ or as
			// "JWT", as many servers still issue them.
			if typ, _ := t.Header["typ"].(string); typ != "" && !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") && !strings.EqualFold(typ, "JWT") {
				return nil, ErrInvalidToken
			}
			return is.keys.KeyfuncCtx(ctx)(t)
		})
		if err != nil || !tok.Valid {
			return nil, ErrInvalidToken
		}
		return is.token(tok)
	}
	return nil, ErrInvalidToken
}

// token reads a verified token's claims.
func (is *issuer) token(tok *jwt.Token) (*Token, error) {
	mc, ok := tok.Claims.(jwt.MapClaims)
	if !ok {
		return nil, ErrInvalidToken
	}
	str := func(name string) string { s, _ := mc[name].(string); return s }
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, ErrInvalidToken
	}
	t := &Token{Tenant: is.tenant, Issuer: is.cfg.Issuer, Subject: str("sub"), ClientID: str("client_id"),
		Patient: str(is.cfg.PatientClaim), PurposeOfUse: str(is.cfg.PurposeOfUseClaim), Expiry: exp.Time}
	if t.ClientID == "" {
		t.ClientID = t.Subject
	}
	if t.ClientID == "" {
		return nil, ErrInvalidToken
	}
	t.Scopes = strings.Fields(str("scope"))
	return t, nil
}
