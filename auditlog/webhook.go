package auditlog

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The webhook's request headers. They are API: receivers check them.
const (
	// HeaderWebhookTimestamp is the Unix time (seconds) the request was
	// signed at; receivers should refuse old ones to stop replays.
	HeaderWebhookTimestamp = "X-Ferry-Timestamp"
	// HeaderWebhookSignature is "v1=" and the lowercase hex
	// HMAC-SHA256, under the sink's key, of the timestamp, ".", and the
	// body (see WebhookSignature).
	HeaderWebhookSignature = "X-Ferry-Signature"
	// HeaderWebhookTenant, HeaderWebhookChain and HeaderWebhookSeq
	// describe the batch: its tenant ("" for the default stream), chain id
	// and "FIRST-LAST" seqs. They are not signed; the body says the same
	// and is.
	HeaderWebhookTenant = "X-Ferry-Tenant"
	HeaderWebhookChain  = "X-Ferry-Chain-Id"
	HeaderWebhookSeq    = "X-Ferry-Seq"
	// HeaderIdempotencyKey is "CHAIN-FIRST-LAST": the same on every retry
	// of a batch, so a receiver can drop redeliveries.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// WebhookContentType is the body's type: JSON lines, one event per line,
// each ending in "\n".
const WebhookContentType = "application/x-ndjson"

// WebhookSignature returns the HeaderWebhookSignature value for a body sent
// at timestamp (the HeaderWebhookTimestamp value).
func WebhookSignature(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a received webhook request's signature and that its
// timestamp is within tolerance of now, in constant time. Receivers written
// in Go can use it as it is; docs/audit.md gives the recipe for others.
func VerifyWebhook(key []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("auditlog: webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("auditlog: webhook: timestamp outside tolerance")
	}
	want := WebhookSignature(key, timestamp, body)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return errors.New("auditlog: webhook: signature mismatch")
	}
	return nil
}

// WebhookOptions configure NewWebhook.
type WebhookOptions struct {
	// URL receives one POST per batch.
	URL string
	// Key signs every body (HMAC-SHA256). Required.
	Key []byte
	// TLS, when set, is the client's TLS configuration (for example a
	// private CA); otherwise the system roots, TLS 1.2 or newer.
	TLS *tls.Config
	// Client, when set, is used as it is (tests); otherwise a client that
	// follows no redirects is built.
	Client *http.Client
}

// WebhookSink POSTs each batch as JSON lines to an HTTP endpoint, signed
// with HMAC-SHA256. Any 2xx answer accepts the batch; anything else
// (including a redirect, which is never followed) fails it, and the queue
// retries it.
type WebhookSink struct {
	url    string
	key    []byte
	client *http.Client
	now    func() time.Time
}

var _ BatchSink = (*WebhookSink)(nil)

// NewWebhook returns a webhook sink.
func NewWebhook(o WebhookOptions) (*WebhookSink, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("auditlog: webhook: url must be an absolute http(s) URL")
	}
	if len(o.Key) == 0 {
		return nil, errors.New("auditlog: webhook: an HMAC key is required")
	}
	c := o.Client
	if c == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.TLS
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.Proxy = nil // the operator configured this URL; no environment proxy in between
		c = &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return &WebhookSink{url: o.URL, key: bytes.Clone(o.Key), client: c, now: time.Now}, nil
}

// WriteBatch implements BatchSink.
func (s *WebhookSink) WriteBatch(ctx context.Context, b *Batch) error {
	if b == nil || len(b.Records) == 0 {
		return errNilBatch
	}
	body := appendLines(make([]byte, 0, linesSize(b.Records)), b.Records)
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("auditlog: webhook: %w", err)
	}
	first, last := b.Records[0].Seq, b.Records[len(b.Records)-1].Seq
	seqs := strconv.FormatUint(first, 10) + "-" + strconv.FormatUint(last, 10)
	h := req.Header
	h.Set("Content-Type", WebhookContentType)
	h.Set("User-Agent", "Ferry-Audit/1")
	h.Set(HeaderWebhookTimestamp, ts)
	h.Set(HeaderWebhookSignature, WebhookSignature(s.key, ts, body))
	h.Set(HeaderWebhookTenant, b.Tenant)
	h.Set(HeaderWebhookChain, b.ChainID)
	h.Set(HeaderWebhookSeq, seqs)
	h.Set(HeaderIdempotencyKey, b.ChainID+"-"+seqs)
	resp, err := s.client.Do(req)
	if err != nil {
		// Name the URL without its query, which may hold a receiver token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("auditlog: webhook POST %s: %w", webhookURLForLog(s.url), err)
	}
	// Drain a little so the connection can be reused; never read the
	// answer into an error.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("auditlog: webhook answered %d", resp.StatusCode)
	}
	return nil
}

// Close releases idle connections.
func (s *WebhookSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// webhookURLForLog strips anything but scheme, host and path, for messages.
func webhookURLForLog(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
}
