package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/source"
	"github.com/ferryhealth/ferry/unified"
)

// Subscription is one client's webhook, as configured.
type Subscription struct {
	Tenant, Client, ID string
	URL                string
	// Types are the event type patterns (unified.MatchEventType).
	Types []string
	// Connections are the connections whose events it takes.
	Connections []string
	// Full: the payload carries the records, not only their references.
	Full       bool
	SecretRefs []string
}

// Matches reports whether the subscription takes events of type t from
// connection.
func (s *Subscription) Matches(connection string, t unified.EventType) bool {
	found := false
	for _, c := range s.Connections {
		if c == connection {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	for _, p := range s.Types {
		if unified.MatchEventType(p, t) {
			return true
		}
	}
	return false
}

// The outcomes of a delivery: the words of audit events and metrics.
const (
	OutcomeDelivered   = "delivered"    // 2xx
	OutcomeRejected    = "rejected"     // another status (a redirect too)
	OutcomeUnreachable = "unreachable"  // no answer: refused, reset, egress denied
	OutcomeTimeout     = "timeout"      // the deadline passed
	OutcomeBreakerOpen = "breaker_open" // not attempted: the endpoint is known dead
	OutcomeNoSecret    = "no_secret"    // not attempted: a signing secret could not be resolved
)

// Result is what one delivery did.
type Result struct {
	Outcome string
	// Status is the endpoint's HTTP status, 0 when it gave none.
	Status  int
	Latency time.Duration
}

// OK reports whether the endpoint accepted the event.
func (r Result) OK() bool { return r.Outcome == OutcomeDelivered }

// Stats count an endpoint's deliveries, for metrics.
type Stats struct {
	Delivered, Failed, Refused atomic.Uint64
	// LatencyMicros sums the delivered attempts' latency.
	LatencyMicros atomic.Uint64
}

// Endpoint delivers to one subscription's URL.
type Endpoint struct {
	Sub     Subscription
	Stats   Stats
	client  *http.Client
	breaker *gobreaker.CircuitBreaker[struct{}]
	secrets secrets.Provider
	now     func() time.Time
}

// maxAnswer is how much of an endpoint's answer is read (and dropped), so
// the connection can be reused.
const maxAnswer = 4 << 10

func newEndpoint(sub Subscription, sp secrets.Provider, allowPrivate bool, failures int, openFor time.Duration, now func() time.Time) *Endpoint {
	d := source.EgressDialer(allowPrivate)
	tr := &http.Transport{
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Endpoint{
		Sub: sub,
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, and not a 2xx
		}},
		breaker: gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name: sub.Tenant + "/" + sub.Client + "/" + sub.ID, MaxRequests: 1, Timeout: openFor,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
		}),
		secrets: sp,
		now:     now,
	}
}

// errNot2xx fails the breaker's call for an answer that is not a 2xx.
var errNot2xx = errors.New("webhook: not a 2xx")

// Deliver POSTs one event (body, whose webhook-id is id) and reports what
// happened, within ctx's deadline. It never retries: the sender's resend
// is the retry.
func (e *Endpoint) Deliver(ctx context.Context, id string, body []byte) Result {
	start := time.Now()
	keys := make([][]byte, 0, len(e.Sub.SecretRefs))
	for _, ref := range e.Sub.SecretRefs {
		v, err := e.secrets.Resolve(ctx, ref)
		if err != nil {
			e.Stats.Refused.Add(1)
			return Result{Outcome: OutcomeNoSecret}
		}
		k, err := ParseSecret(string(v.Reveal()))
		if err != nil {
			e.Stats.Refused.Add(1)
			return Result{Outcome: OutcomeNoSecret}
		}
		keys = append(keys, k)
	}
	var status int
	_, err := e.breaker.Execute(func() (struct{}, error) {
		var err error
		status, err = e.post(ctx, id, body, keys)
		if err == nil && (status < 200 || status > 299) {
			err = errNot2xx
		}
		return struct{}{}, err
	})
	r := Result{Status: status, Latency: time.Since(start)}
	switch {
	case err == nil:
		r.Outcome = OutcomeDelivered
		e.Stats.Delivered.Add(1)
		e.Stats.LatencyMicros.Add(uint64(r.Latency.Microseconds()))
		return r
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		e.Stats.Refused.Add(1)
		r.Outcome = OutcomeBreakerOpen
		return r
	case errors.Is(err, errNot2xx):
		r.Outcome = OutcomeRejected
	case ctx.Err() != nil:
		r.Outcome = OutcomeTimeout
	default:
		r.Outcome = OutcomeUnreachable
	}
	e.Stats.Failed.Add(1)
	return r
}

func (e *Endpoint) post(ctx context.Context, id string, body []byte, keys [][]byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.Sub.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := e.now().Unix()
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{"Ferry-Webhooks/1"}
	req.Header["Webhook-Id"] = []string{id}
	req.Header["Webhook-Timestamp"] = []string{itoa(ts)}
	req.Header["Webhook-Signature"] = []string{string(AppendSignature(nil, keys, id, ts, body))}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func itoa(v int64) string {
	var b [20]byte
	return string(appendInt(b[:0], v))
}

// Close drops the endpoint's idle connections.
func (e *Endpoint) Close() { e.client.CloseIdleConnections() }
