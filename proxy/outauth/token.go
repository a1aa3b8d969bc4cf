package outauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/proxy/secrets"
)

// Defaults for Options.
const (
	DefaultSkew               = 60 * time.Second
	DefaultMinRefreshInterval = 5 * time.Second
	DefaultExpiry             = 60 * time.Second
	DefaultErrorBackoff       = time.Second
	DefaultFetchTimeout       = 10 * time.Second
	DefaultMaxBodyBytes       = 64 << 10
)

// Options are shared by the token kinds.
type Options struct {
	// HTTPClient calls the token endpoint; it is copied and made to never
	// follow redirects. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// MaxBodyBytes caps the token endpoint's answer. Default 64 KiB.
	MaxBodyBytes int64
	// Skew: a token is not used in its last Skew before expiry. Default 60s
	// (half the lifetime for tokens shorter than two skews).
	Skew time.Duration
	// MinRefreshInterval: a token younger than this is not dropped by
	// Rejected. Default 5s.
	MinRefreshInterval time.Duration
	// DefaultExpiry is assumed when the answer has no expires_in. Default 60s.
	DefaultExpiry time.Duration
	// ErrorBackoff: a failed fetch is not retried before this. Default 1s.
	ErrorBackoff time.Duration
	// FetchTimeout bounds one token fetch. Default 10s.
	FetchTimeout time.Duration
	// AllowHTTP accepts an http:// token URL (tests on loopback). Default
	// false: https only.
	AllowHTTP bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Skew, DefaultSkew)
	def(&o.MinRefreshInterval, DefaultMinRefreshInterval)
	def(&o.DefaultExpiry, DefaultExpiry)
	def(&o.ErrorBackoff, DefaultErrorBackoff)
	def(&o.FetchTimeout, DefaultFetchTimeout)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var c http.Client
	if o.HTTPClient != nil {
		c = *o.HTTPClient // a shallow copy: the transport (and its dialer) is shared
	} else {
		c.Timeout = DefaultFetchTimeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.HTTPClient = &c
}

// checkTokenURL refuses token URLs that are not absolute https (or http
// when allowed), or that carry user info or a fragment.
func checkTokenURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" ||
		!(u.Scheme == "https" || allowHTTP && u.Scheme == "http") {
		return errors.New("token_url must be an absolute https URL without user info or fragment")
	}
	return nil
}

// Token is an access token.
type Token struct {
	// AccessToken is the token itself.
	AccessToken secrets.Value
	// Expiry is when the endpoint said it expires.
	Expiry time.Time

	gen     uint64
	fetched time.Time
}

// TokenSource gives access tokens, cached. Implemented by
// *ClientCredentials and *SMARTBackend.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
	// Invalidate drops t after the source rejected it; a newer token than t
	// is kept, and so is a token younger than MinRefreshInterval. It
	// reports whether t was dropped.
	Invalidate(t Token) bool
}

// tokenCache is the cache and single refresher shared by the token kinds.
type tokenCache struct {
	o     Options
	fetch func(ctx context.Context) (*Token, error)

	mu       sync.Mutex
	tok      *cachedToken
	err      error
	retryAt  time.Time
	gen      uint64
	inflight *tokenCall

	fetches atomic.Uint64
}

type cachedToken struct {
	t                      Token
	refreshAt, usableUntil time.Time
}

type tokenCall struct {
	done chan struct{}
	tok  *cachedToken
	err  error
}

func (c *tokenCache) Token(ctx context.Context) (Token, error) {
	now := c.o.Now()
	c.mu.Lock()
	t := c.tok
	if t != nil && now.Before(t.usableUntil) {
		if !now.Before(t.refreshAt) && c.inflight == nil && !now.Before(c.retryAt) {
			c.start(ctx) // refresh ahead; the current token stays in use
		}
		c.mu.Unlock()
		return t.t, nil
	}
	if c.err != nil && now.Before(c.retryAt) && c.inflight == nil {
		err := c.err
		c.mu.Unlock()
		return Token{}, err
	}
	call := c.inflight
	if call == nil {
		call = c.start(ctx)
	}
	c.mu.Unlock()
	select {
	case <-call.done:
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
	if call.err != nil {
		return Token{}, call.err
	}
	return call.tok.t, nil
}

// start begins the one fetch; c.mu is held. The fetch is detached from the
// caller's cancellation (others wait on it) and bounded by FetchTimeout.
func (c *tokenCache) start(ctx context.Context) *tokenCall {
	call := &tokenCall{done: make(chan struct{})}
	c.inflight = call
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.FetchTimeout)
	go func() {
		defer cancel()
		c.fetches.Add(1)
		fetched := c.o.Now()
		t, err := c.fetch(fctx)
		c.mu.Lock()
		if err != nil {
			c.err, c.retryAt = err, c.o.Now().Add(c.o.ErrorBackoff)
			call.err = err
		} else {
			c.gen++
			t.gen, t.fetched = c.gen, fetched
			life := t.Expiry.Sub(fetched)
			usable := life - c.o.Skew
			if life < 2*c.o.Skew {
				usable = life / 2
			}
			ct := &cachedToken{t: *t, usableUntil: fetched.Add(usable), refreshAt: fetched.Add(usable * 4 / 5)}
			c.tok, c.err, c.retryAt = ct, nil, time.Time{}
			call.tok = ct
		}
		c.inflight = nil
		c.mu.Unlock()
		close(call.done)
	}()
	return call
}

func (c *tokenCache) Invalidate(t Token) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil || c.tok.t.gen != t.gen || c.o.Now().Sub(t.fetched) < c.o.MinRefreshInterval {
		return false
	}
	c.tok = nil
	return true
}

// rejected is Authenticator.Rejected for the token kinds: true when a
// newer token than the rejected one exists or will be fetched.
func (c *tokenCache) rejected(gen uint64, fetched time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.tok == nil:
		return true // dropped already: the next Credential fetches
	case c.tok.t.gen != gen:
		return c.tok.t.gen > gen
	case c.o.Now().Sub(fetched) < c.o.MinRefreshInterval:
		return false // too young to drop: a source that always says 401
	}
	c.tok = nil
	return true
}

// tokenResponse is RFC 6749 §5.1 (and SMART's).
type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
	Error       string      `json:"error"`
}

// exchange POSTs form to the token endpoint and returns the token. auth, if
// set, decorates the request (client_secret_basic). It never returns the
// answer's text.
func exchange(ctx context.Context, o *Options, tokenURL string, form url.Values, auth func(*http.Request)) (*Token, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &Error{Kind: ErrBadResponse}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth != nil {
		auth(req)
	}
	sent := o.Now()
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, cause: stripURL(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, o.MaxBodyBytes+1))
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, Status: resp.StatusCode}
	}
	if int64(len(body)) > o.MaxBodyBytes {
		return nil, &Error{Kind: ErrBadResponse, Status: resp.StatusCode}
	}
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr) // its text may quote the body: never shown
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, &Error{Kind: ErrUnreachable, Status: resp.StatusCode, OAuthCode: code(tr.Error, jsonErr)}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, &Error{Kind: ErrBadResponse, Status: resp.StatusCode}
	case resp.StatusCode >= 400:
		return nil, &Error{Kind: ErrRejected, Status: resp.StatusCode, OAuthCode: code(tr.Error, jsonErr)}
	case resp.StatusCode != http.StatusOK, jsonErr != nil, !validToken(tr.AccessToken),
		tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer"):
		return nil, &Error{Kind: ErrBadResponse, Status: resp.StatusCode}
	}
	life := o.DefaultExpiry
	if tr.ExpiresIn != "" {
		secs, err := strconv.ParseFloat(string(tr.ExpiresIn), 64)
		if err != nil || secs <= 0 || secs > 366*24*3600 {
			return nil, &Error{Kind: ErrBadResponse, Status: resp.StatusCode}
		}
		life = time.Duration(secs * float64(time.Second))
	}
	return &Token{AccessToken: secrets.NewValue([]byte(tr.AccessToken)), Expiry: sent.Add(life)}, nil
}

// UnmarshalJSON of json.Number refuses a quoted number, which some token
// endpoints send for expires_in; accept both.
func (r *tokenResponse) UnmarshalJSON(b []byte) error {
	type plain tokenResponse
	var raw struct {
		plain
		ExpiresIn json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*r = tokenResponse(raw.plain)
	e := bytes.Trim(raw.ExpiresIn, `"`)
	if len(e) > 0 && string(e) != "null" {
		r.ExpiresIn = json.Number(e)
	}
	return nil
}

func code(c string, jsonErr error) string {
	if jsonErr == nil && oauthCodes[c] {
		return c
	}
	return ""
}

// validToken: a token is sent in a header, so it must be visible ASCII
// (RFC 6750 b64token is narrower); this also refuses CR and LF.
func validToken(s string) bool {
	if s == "" || len(s) > 16<<10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// stripURL keeps a transport error's cause without the request URL, which
// *url.Error repeats.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}
