package source

import (
	"crypto/tls"
	"io"
	"net/http"
	"time"
)

// maxKeySetBytes caps an issuer's key set: a JWKS of a few keys is a few
// kilobytes.
const maxKeySetBytes = 1 << 20

// KeySetClient is the HTTP client that fetches inbound token issuers' key
// sets (proxy/identity). A JWKS URL is configured like a source's base URL,
// so it goes through the same egress check at connect time, never through
// an environment proxy, follows no redirect, and reads at most 1 MiB.
func KeySetClient(allowPrivate bool) *http.Client {
	d := egressDialer(allowPrivate)
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: capBody{&http.Transport{
			Proxy:                  nil,
			DialContext:            d.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    5 * time.Second,
			ResponseHeaderTimeout:  5 * time.Second,
			MaxIdleConnsPerHost:    1,
			IdleConnTimeout:        30 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}},
	}
}

// capBody bounds every answer's body.
type capBody struct{ rt http.RoundTripper }

func (c capBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxKeySetBytes), resp.Body}
	return resp, nil
}
