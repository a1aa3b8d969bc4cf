package source

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/internal/clock"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/mllp"
)

// The MLLP source. A connection whose base URL is mllp://host:port (plain
// TCP) or mllps://host:port (TLS 1.2 or later) has no HTTP client: its
// source is reached with Exchange, one HL7 v2 message in, one answer out,
// over a proxy/mllp Client that keeps one connection to the source and one
// message in flight on it, as MLLP requires.
//
// An exchange meets the same machinery as an HTTP call: the request was
// admitted through the connection's guard (hold, breaker, bulkhead) before
// the plugin was called; each exchange then takes its turn from the pacer,
// runs under the request's deadline, is retried after a connection error
// within the retry budget (Transport.call), and dials through the
// connection's egress-checking dialer. The answer is bounded by
// limits.max_upstream_body_bytes.

// Errors of the MLLP source. Their text names no host, port or content.
var (
	errNotMLLP      = errors.New("the connection's source speaks HTTP: use Do")
	errEmptyMessage = errors.New("an empty message")
	errLargeMessage = errors.New("a message larger than the answer limit")
	// errMLLPBusy: the deadline passed while the request waited for its
	// turn on the source's one MLLP connection. Like an exhausted HTTP
	// pool (guard.FaultPool), it is Ferry's queue, not the source, that was
	// full: the client gets upstream_timeout, the breaker is not told.
	errMLLPBusy = errors.New("the deadline passed waiting for the MLLP connection")
)

// isMLLP reports whether a base URL scheme names an MLLP source.
func isMLLP(scheme string) bool { return scheme == "mllp" || scheme == "mllps" }

// mllpSource is the source of an mllp:// or mllps:// connection. It has no
// authenticator: MLLP carries no credentials (a connection authenticates
// with TLS and network policy).
type mllpSource struct {
	conn       *config.Connection
	client     *mllp.Client
	turn       chan struct{} // one exchange at a time, queued by deadline
	maxMessage int           // what a connector may send
	clk        clock.Clock
}

func newMLLPSource(cn *config.Connection, u *url.URL, clients *Clients, roots *x509.CertPool) (*mllpSource, error) {
	if u.Port() == "" {
		return nil, fmt.Errorf("connection %q: base_url: an MLLP source needs a port", cn.ID)
	}
	var tlsConf *tls.Config
	if u.Scheme == "mllps" {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), RootCAs: roots}
	}
	dialer := egressDialer(cn.AllowPrivateNetwork)
	client, err := mllp.NewClient(mllp.Config{
		Addr:     u.Host,
		TLS:      tlsConf,
		Dial:     dialer.DialContext,
		MaxFrame: clients.maxBody,
		// Every exchange carries the request's deadline; this bounds one
		// that somehow has none.
		Timeout: cn.Timeout.D(),
	})
	if err != nil {
		return nil, fmt.Errorf("connection %q: base_url: %w", cn.ID, err)
	}
	return &mllpSource{conn: cn, client: client, turn: make(chan struct{}, 1), maxMessage: clients.maxBody, clk: clients.clk}, nil
}

func (s *mllpSource) RelaysHTTP() bool { return false }

// Close closes the source's MLLP connection, at shutdown.
func (s *mllpSource) Close() { _ = s.client.Close() }

// do answers CodeUnsupported: a connector asking for the wrong transport is
// a connector bug, which the client sees as connector_error.
func (s *mllpSource) do(context.Context, *Transport, *connectors.HTTPRequest) (*connectors.HTTPResponse, error) {
	return nil, &connectors.Error{Code: connectors.CodeUnsupported, Err: errNotHTTP}
}

func (s *mllpSource) exchange(ctx context.Context, t *Transport, msg []byte) ([]byte, error) {
	switch {
	case len(msg) == 0:
		return nil, &connectors.Error{Code: connectors.CodeInternal, Err: errEmptyMessage}
	case len(msg) > s.maxMessage:
		return nil, &connectors.Error{Code: connectors.CodeInternal, Err: errLargeMessage}
	}
	deadline, ok := deadlineOf(ctx, s.clk, s.conn)
	if !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	var answer []byte
	// A query is safe to send again: an exchange that failed to connect is
	// retried like an idempotent HTTP read. Nothing is retried once the
	// message may have reached the source and an answer was due.
	err := t.call(ctx, deadline, true, func() error {
		// The turn on the source's one connection. A request whose
		// deadline passes in this queue, or that gets its turn too late
		// to give the source a fair chance, was failed by Ferry's queue,
		// not by the source (errMLLPBusy).
		select {
		case s.turn <- struct{}{}:
		case <-ctx.Done():
			return &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: errMLLPBusy}
		}
		defer func() { <-s.turn }()
		start := s.clk.Now()
		a, err := s.client.Exchange(ctx, msg)
		held := s.clk.Now().Sub(start)
		t.rec.AddWait(held)
		if err != nil {
			e := classifyMLLPErr(ctx, err)
			if connectors.CodeOf(e) == connectors.CodeUpstreamTimeout && held < s.conn.Timeout.D()/fairShare {
				return &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: errMLLPBusy}
			}
			return e
		}
		answer = a
		t.rec.acked(ackStatus(a))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return answer, nil
}

// fairShare: a query that timed out having held the source's connection
// for less than 1/fairShare of the connection's timeout was cut short by
// its wait in the queue, and does not count against the source.
const fairShare = 10

// classifyMLLPErr maps an MLLP client error to a connector error code. The
// cause stays in the host (errEgressDenied is kept, for the retry rule).
func classifyMLLPErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, errEgressDenied):
		return &connectors.Error{Code: connectors.CodeSourceUnavailable, Err: errEgressDenied}
	case ctx.Err() != nil, errors.Is(err, mllp.ErrTimeout):
		var me *mllp.Error
		if errors.As(err, &me) && me.Op == "wait" {
			return &connectors.Error{Code: connectors.CodeUpstreamTimeout, Err: errMLLPBusy}
		}
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	case errors.Is(err, mllp.ErrProtocol):
		// Broken framing or an answer over the limit: an answer Ferry
		// will not take.
		return &connectors.Error{Code: connectors.CodeUpstream}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &connectors.Error{Code: connectors.CodeUpstreamTimeout}
	}
	return &connectors.Error{Code: connectors.CodeSourceUnavailable}
}

// ackStatus reads an HL7 answer's acknowledgement code (MSA-1) for the
// breaker and the metrics, as the HTTP status of an answer: AA or CA (or no
// MSA segment) is 200, AE or CE (the source refused this query: the
// source is up) 400, AR or CR (rejected for reasons unrelated to the
// message, such as the system being down) 503. Only the code is read;
// nothing of the message is kept.
func ackStatus(msg []byte) int {
	if len(msg) < 8 || !bytes.HasPrefix(msg, []byte("MSH")) {
		return 200
	}
	sep := msg[3]
	i := bytes.Index(msg, []byte("\rMSA"))
	if i < 0 || len(msg) < i+7 || msg[i+4] != sep {
		return 200
	}
	code := msg[i+5 : i+7]
	if len(msg) > i+7 && msg[i+7] != sep && msg[i+7] != '\r' && msg[i+7] != '\n' {
		return 200
	}
	switch string(code) {
	case "AE", "CE":
		return 400
	case "AR", "CR":
		return 503
	}
	return 200
}
