package source

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/outauth"
	"github.com/ferryhealth/ferry/proxy/secrets"
)

// newAuthenticator builds a connection's outbound auth from its config and
// its tenant's provider; nil for kind "none". Token endpoints are reached
// with tokenClient, under the connection's egress policy.
func newAuthenticator(cn *config.Connection, sp secrets.Provider, devMode bool, roots *x509.CertPool) (outauth.Authenticator, error) {
	a := cn.Auth
	src := outauth.ProviderSecret(sp, a.SecretRef)
	tokenOpts := func() outauth.Options {
		return outauth.Options{HTTPClient: tokenClient(cn, roots), AllowHTTP: devMode || cn.AllowInsecureHTTP}
	}
	switch a.Kind {
	case config.AuthNone:
		return nil, nil
	case config.AuthBearer:
		return outauth.NewBearer(src), nil
	case config.AuthBasic:
		return outauth.NewBasic(src), nil
	case config.AuthAPIKey:
		return outauth.NewAPIKey(a.Header, src), nil
	case config.AuthOAuth2ClientCreds:
		style := outauth.AuthBasic
		if a.ClientAuth == config.ClientSecretPost {
			style = outauth.AuthInParams
		}
		return outauth.NewClientCredentials(outauth.ClientCredentialsConfig{
			TokenURL: a.TokenURL, ClientID: a.ClientID, ClientSecret: src, Scopes: a.Scopes, AuthStyle: style, Options: tokenOpts(),
		})
	case config.AuthSMARTBackendServices:
		return outauth.NewSMARTBackend(outauth.SMARTConfig{
			TokenURL: a.TokenURL, ClientID: a.ClientID, Scopes: a.Scopes, Key: src, KeyID: a.KeyID,
			Algorithm: a.Algorithm, Options: tokenOpts(),
		})
	}
	return nil, fmt.Errorf("unknown auth kind %q", a.Kind)
}

// tokenClient is the HTTP client of a connection's token endpoint. It
// dials through the same egress check as the source itself (a token URL
// is as much an SSRF vector as a base URL), and never through an
// environment proxy, which would dial on our behalf past that check. With
// the connection's ca_file (roots), only its CAs are trusted.
func tokenClient(cn *config.Connection, roots *x509.CertPool) *http.Client {
	d := egressDialer(cn.AllowPrivateNetwork)
	return &http.Client{
		Timeout: outauth.DefaultFetchTimeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            d.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
			TLSHandshakeTimeout:    5 * time.Second,
			ResponseHeaderTimeout:  outauth.DefaultFetchTimeout,
			MaxIdleConnsPerHost:    2,
			IdleConnTimeout:        30 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
	}
}
