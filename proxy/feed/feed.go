package feed

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/mllp"
	"github.com/ferryhealth/ferry/proxy/webhook"
)

// Auditor takes the feed's audit events: the tenants' audit trails
// (auditlog.Emitter) in the product, a recorder in tests.
type Auditor interface {
	Admit(tenant string) error
	Emit(ctx context.Context, e *auditlog.Event)
}

// Options are a feed's configuration and collaborators.
type Options struct {
	// Connection is the hl7v2 connection whose Feed this serves.
	Connection config.Connection
	// Region and ConfigHash are written into audit events.
	Region, ConfigHash string
	// AuditKey is the tenant's audit key: it keys patient references and
	// the webhook-ids.
	AuditKey []byte
	// Mapper maps messages to events: the connection's connector.
	Mapper   connectors.EventMapper
	Webhooks *webhook.Dispatcher
	Audit    Auditor
}

// Stats count what a feed did, for metrics.
type Stats struct {
	// Received counts messages read; Accepted, Errored and Rejected the
	// AA, AE and AR answers; Closed the connections closed instead of an
	// AE (on_failure "close") or for a broken frame.
	Received, Accepted, Errored, Rejected, Closed atomic.Uint64
	// Refused counts connections refused before a message: over the
	// connection limit, outside the CIDR allowlist, a failed handshake.
	Refused atomic.Uint64
}

// Feed is one connection's MLLP listener.
type Feed struct {
	o     Options
	cfg   *config.Feed
	tls   *tls.Config
	cidrs []netip.Prefix
	ids   ids
	refs  *auditlog.PatientRefs
	Stats Stats

	slots   chan struct{}
	ackSeq  atomic.Uint64
	ackPfx  string
	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	closed  bool
	serving sync.WaitGroup
}

// New checks a feed's settings and reads its TLS files; Serve starts it.
func New(o Options) (*Feed, error) {
	f := o.Connection.Feed
	if f == nil {
		return nil, fmt.Errorf("connection %q has no feed", o.Connection.ID)
	}
	if o.Mapper == nil || o.Webhooks == nil || o.Audit == nil || len(o.AuditKey) == 0 {
		return nil, errors.New("feed: a mapper, webhooks, an audit trail and the tenant's audit key are required")
	}
	var pfx [4]byte
	_, _ = rand.Read(pfx[:])
	fd := &Feed{o: o, cfg: f, ids: ids{key: o.AuditKey}, refs: auditlog.NewPatientRefs(o.AuditKey),
		slots: make(chan struct{}, max(f.MaxConnections, 1)), ackPfx: "FERRY" + hex.EncodeToString(pfx[:]) + "-",
		conns: map[net.Conn]struct{}{}}
	for _, s := range f.AllowedCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("feed %q: allowed_cidrs: %w", o.Connection.ID, err)
		}
		fd.cidrs = append(fd.cidrs, p.Masked())
	}
	if f.TLS != nil {
		c, err := serverTLS(f.TLS)
		if err != nil {
			return nil, fmt.Errorf("feed %q: %w", o.Connection.ID, err)
		}
		fd.tls = c
	}
	return fd, nil
}

// serverTLS is the feed's TLS: 1.2 or newer, and with a client CA,
// mutual; with pins, only those client certificates.
func serverTLS(t *config.FeedTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls.client_ca_file: no certificate in it")
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	if len(t.ClientCertSHA256) > 0 {
		pins := make([][]byte, 0, len(t.ClientCertSHA256))
		for _, h := range t.ClientCertSHA256 {
			b, _ := hex.DecodeString(h)
			pins = append(pins, b)
		}
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no client certificate")
			}
			sum := sha256.Sum256(raw[0])
			for _, p := range pins {
				if subtle.ConstantTimeCompare(sum[:], p) == 1 {
					return nil
				}
			}
			return errors.New("client certificate not pinned for this feed")
		}
	}
	return c, nil
}

// Listen opens the feed's listener on its configured address.
func (f *Feed) Listen() (net.Listener, error) { return net.Listen("tcp", f.cfg.Listen) }

// Serve accepts connections on ln until Close. It returns nil after Close.
func (f *Feed) Serve(ln net.Listener) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		ln.Close()
		return nil
	}
	f.ln = ln
	f.serving.Add(1)
	f.mu.Unlock()
	defer f.serving.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		select {
		case f.slots <- struct{}{}:
		default:
			// Over the limit: closed at once, nothing read.
			f.Stats.Refused.Add(1)
			c.Close()
			continue
		}
		if !f.track(c) {
			<-f.slots
			c.Close()
			return nil
		}
		f.serving.Add(1)
		go func() {
			defer f.serving.Done()
			defer func() { <-f.slots }()
			defer f.untrack(c)
			f.serveConn(c)
		}()
	}
}

func (f *Feed) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Feed) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

// Close stops accepting, closes every connection (a message in flight is
// not acknowledged, so its sender resends it) and waits for them.
func (f *Feed) Close() error {
	f.mu.Lock()
	f.closed = true
	if f.ln != nil {
		f.ln.Close()
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.serving.Wait()
	return nil
}

// allowed reports whether a peer may connect: any when no CIDR is listed.
func (f *Feed) allowed(addr net.Addr) bool {
	if len(f.cidrs) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range f.cidrs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// handshakeTimeout bounds a TLS handshake.
const handshakeTimeout = 10 * time.Second

// writeTimeout bounds writing one ACK.
const writeTimeout = 5 * time.Second

func (f *Feed) serveConn(c net.Conn) {
	if !f.allowed(c.RemoteAddr()) {
		f.Stats.Refused.Add(1)
		return
	}
	peer := c.RemoteAddr()
	if f.tls != nil {
		tc := tls.Server(c, f.tls)
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			f.Stats.Refused.Add(1)
			return
		}
		_ = c.SetDeadline(time.Time{})
		c = tc
	}
	pc := &pacedConn{Conn: c, frame: f.cfg.FrameTimeout.D()}
	r := mllp.NewReader(pc, f.cfg.MaxFrameBytes)
	var out []byte
	for {
		pc.await(f.cfg.IdleTimeout.D(), r.Buffered() > 0)
		msg, err := r.ReadFrame()
		if err != nil {
			f.frameError(peer, err)
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		f.Stats.Received.Add(1)
		ack, keep := f.handle(peer, msg)
		if !keep {
			f.Stats.Closed.Add(1)
			return
		}
		out, err = mllp.AppendFrame(out[:0], ack)
		if err != nil {
			return
		}
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// frameError audits a frame that could not be read as one (too large, not
// MLLP); a clean end, an idle or slow sender's deadline are not audited.
func (f *Feed) frameError(peer net.Addr, err error) {
	code := ""
	status := 400
	switch {
	case errors.Is(err, mllp.ErrFrameTooLarge):
		code, status = "frame_too_large", 413
	case errors.Is(err, mllp.ErrNoFrame), errors.Is(err, mllp.ErrNestedStart), errors.Is(err, mllp.ErrBadTrailer),
		errors.Is(err, mllp.ErrStrayBytes):
		code = "bad_frame"
	default:
		return
	}
	f.Stats.Closed.Add(1)
	ev := f.receiveEvent(peer)
	ev.Status, ev.ErrorCode = status, code
	f.o.Audit.Emit(context.Background(), &ev)
}

// pacedConn gives a connection two read deadlines: the idle one while it
// waits for a message, the frame one from the first byte of a message, so
// a sender that trickles a frame (slowloris) is cut off.
type pacedConn struct {
	net.Conn
	frame   time.Duration
	started bool
}

// await arms the deadline for the next frame: the frame deadline at once
// when its first bytes are already buffered, else the idle one.
func (p *pacedConn) await(idle time.Duration, buffered bool) {
	p.started = buffered
	d := idle
	if buffered {
		d = p.frame
	}
	_ = p.Conn.SetReadDeadline(time.Now().Add(d))
}

func (p *pacedConn) Read(b []byte) (int, error) {
	n, err := p.Conn.Read(b)
	if n > 0 && !p.started {
		p.started = true
		_ = p.Conn.SetReadDeadline(time.Now().Add(p.frame))
	}
	return n, err
}

// Connection is the id of the feed's connection.
func (f *Feed) Connection() string { return f.o.Connection.ID }
