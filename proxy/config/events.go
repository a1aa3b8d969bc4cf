package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ferryhealth/ferry/unified"
)

// Feed is an inbound HL7 v2 feed of a connection (docs/events.md): an MLLP
// listener an interface engine pushes messages to. Ferry acknowledges a
// message only once every webhook subscribed to its events has accepted
// them, so the sender keeps it (and resends it) until then.
type Feed struct {
	// Listen is the listener's host:port, one per feed. Required.
	Listen string `json:"listen"`
	// TLS serves the feed over TLS 1.2 or newer. Without it the listener
	// must be on loopback, or dev_mode set.
	TLS *FeedTLS `json:"tls,omitempty"`
	// AllowedCIDRs are the networks senders may connect from; default: any
	// (then tls.client_ca_file is required outside dev_mode and loopback).
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	// SendingApplication and SendingFacility are the namespace ids MSH-3
	// and MSH-4 of every message must carry (compared exactly). A message
	// from another sender is refused with AR and audited. Both required.
	SendingApplication string `json:"sending_application"`
	SendingFacility    string `json:"sending_facility"`
	// AckBudget is how long Ferry may take to deliver a message's events
	// before it answers AE: set it below the sender's ACK timeout. Default
	// "5s"; at most "60s".
	AckBudget Duration `json:"ack_budget,omitempty"`
	// OnFailure is what Ferry does when delivery failed: "ae" (default:
	// answer an application error, the sender resends) or "close" (close
	// the connection without an answer, for senders that resend only on a
	// timeout or a broken connection).
	OnFailure string `json:"on_failure,omitempty"`
	// MaxFrameBytes caps one message. Default 1 MiB; at most 16 MiB.
	MaxFrameBytes int `json:"max_frame_bytes,omitempty"`
	// MaxConnections bounds the feed's open connections; more are closed at
	// once. Default 8.
	MaxConnections int `json:"max_connections,omitempty"`
	// IdleTimeout closes a connection that sends nothing for this long.
	// Default "5m".
	IdleTimeout Duration `json:"idle_timeout,omitempty"`
	// FrameTimeout bounds how long one message may take to arrive once it
	// has begun (a slow or stalled sender is cut off). Default "10s".
	FrameTimeout Duration `json:"frame_timeout,omitempty"`
}

// FeedTLS is a feed's server certificate and, for mutual TLS, the CAs and
// the certificates senders must present.
type FeedTLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// ClientCAFile, when set, requires every sender to present a
	// certificate issued by one of these CAs.
	ClientCAFile string `json:"client_ca_file,omitempty"`
	// ClientCertSHA256 pins the senders' certificates (lowercase hex
	// SHA-256 of the DER): with it, only these certificates are accepted.
	ClientCertSHA256 []string `json:"client_cert_sha256,omitempty"`
}

// The feed failure modes.
const (
	FeedOnFailureAE    = "ae"
	FeedOnFailureClose = "close"
)

// Feed defaults and bounds.
const (
	DefaultAckBudget          = 5 * time.Second
	MaxAckBudget              = 60 * time.Second
	DefaultFeedMaxFrameBytes  = 1 << 20
	MaxFeedFrameBytes         = 16 << 20
	DefaultFeedMaxConnections = 8
	DefaultFeedIdleTimeout    = 5 * time.Minute
	DefaultFeedFrameTimeout   = 10 * time.Second
)

// Webhook is one subscription of a client to events (docs/events.md),
// delivered as Standard Webhooks.
type Webhook struct {
	// ID names the subscription in audit events and metrics: [a-z0-9_-],
	// unique within the client. Required.
	ID string `json:"id"`
	// URL receives each event as a signed POST: https (http only with
	// dev_mode). Redirects are not followed. Required.
	URL string `json:"url"`
	// EventTypes choose the events: a type ("encounter.started"), a prefix
	// with a wildcard ("encounter.*") or "*". Default ["*"].
	EventTypes []string `json:"event_types,omitempty"`
	// Connections limit the subscription to some of the client's
	// connections. Default: all of them.
	Connections []string `json:"connections,omitempty"`
	// Payload is "ids" (default: the event's references only, data
	// minimization) or "full" (the records too).
	Payload string `json:"payload,omitempty"`
	// SecretRefs reference the signing secrets in the tenant's secrets
	// provider, each "whsec_" and base64 (24 to 64 bytes) as Standard
	// Webhooks writes them. Every one signs each delivery, so a receiver
	// can move to a new secret before the old one is dropped. At least one.
	SecretRefs []string `json:"secret_refs"`
	// AllowPrivateNetwork permits a URL whose address is loopback, private
	// or link-local. Default false: refused at connect time.
	AllowPrivateNetwork bool `json:"allow_private_network,omitempty"`
	// Breaker opens after this many failed deliveries in a row, refusing
	// deliveries (so the feed answers AE at once) for BreakerOpenFor.
	// Defaults 5 and "30s".
	BreakerFailures int      `json:"breaker_failures,omitempty"`
	BreakerOpenFor  Duration `json:"breaker_open_for,omitempty"`
}

// The webhook payloads.
const (
	PayloadIDs  = "ids"
	PayloadFull = "full"
)

// Webhook defaults.
const (
	DefaultWebhookBreakerFailures = 5
	DefaultWebhookBreakerOpenFor  = 30 * time.Second
)

// ApplyEventDefaults fills the feed and webhook defaults. Load applies it;
// code that builds a Config itself (tests, tools) calls it.
func (c *Config) ApplyEventDefaults() {
	for i := range c.Connections {
		f := c.Connections[i].Feed
		if f == nil {
			continue
		}
		if f.AckBudget == 0 {
			f.AckBudget = Duration(DefaultAckBudget)
		}
		if f.OnFailure == "" {
			f.OnFailure = FeedOnFailureAE
		}
		if f.MaxFrameBytes == 0 {
			f.MaxFrameBytes = DefaultFeedMaxFrameBytes
		}
		if f.MaxConnections == 0 {
			f.MaxConnections = DefaultFeedMaxConnections
		}
		if f.IdleTimeout == 0 {
			f.IdleTimeout = Duration(DefaultFeedIdleTimeout)
		}
		if f.FrameTimeout == 0 {
			f.FrameTimeout = Duration(DefaultFeedFrameTimeout)
		}
	}
	for i := range c.Clients {
		for j := range c.Clients[i].Webhooks {
			w := &c.Clients[i].Webhooks[j]
			if w.EventTypes == nil {
				w.EventTypes = []string{"*"}
			}
			if w.Payload == "" {
				w.Payload = PayloadIDs
			}
			if w.BreakerFailures == 0 {
				w.BreakerFailures = DefaultWebhookBreakerFailures
			}
			if w.BreakerOpenFor == 0 {
				w.BreakerOpenFor = Duration(DefaultWebhookBreakerOpenFor)
			}
		}
	}
}

// hdNamespace is what MSH-3 and MSH-4 may be configured as: printable, no
// HL7 delimiter.
var hdNamespace = regexp.MustCompile(`^[A-Za-z0-9 ._:-]{1,64}$`)

func (v *validator) feed(at string, cn Connection, dev bool, listens map[string]string) {
	f := cn.Feed
	if f == nil {
		return
	}
	if cn.Connector != "hl7v2" {
		v.add(at, "only hl7v2 connections have a feed")
	}
	if _, _, err := net.SplitHostPort(f.Listen); err != nil {
		v.add(at+".listen", "must be host:port")
	} else if other, dup := listens[f.Listen]; dup {
		v.add(at+".listen", fmt.Sprintf("already the listener of %s", other))
	} else {
		listens[f.Listen] = at
	}
	if f.TLS != nil {
		if f.TLS.CertFile == "" {
			v.add(at+".tls.cert_file", "required")
		}
		if f.TLS.KeyFile == "" {
			v.add(at+".tls.key_file", "required")
		}
		for j, h := range f.TLS.ClientCertSHA256 {
			if !hexSHA256.MatchString(h) {
				v.add(fmt.Sprintf("%s.tls.client_cert_sha256[%d]", at, j), "must be 64 lowercase hex digits")
			}
		}
		if len(f.TLS.ClientCertSHA256) > 0 && f.TLS.ClientCAFile == "" {
			v.add(at+".tls.client_ca_file", "required with client_cert_sha256")
		}
	} else if !dev && !isLoopbackAddr(f.Listen) {
		v.add(at+".listen", "a non-loopback feed needs tls (plain TCP only on loopback or with dev_mode)")
	}
	for j, s := range f.AllowedCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			v.add(fmt.Sprintf("%s.allowed_cidrs[%d]", at, j), "must be a CIDR prefix (10.0.0.0/8)")
		}
	}
	if !dev && !isLoopbackAddr(f.Listen) && len(f.AllowedCIDRs) == 0 && (f.TLS == nil || f.TLS.ClientCAFile == "") {
		v.add(at, "senders must be authenticated: set allowed_cidrs or tls.client_ca_file")
	}
	if !hdNamespace.MatchString(f.SendingApplication) {
		v.add(at+".sending_application", "required: MSH-3's namespace id, 1 to 64 of [A-Za-z0-9 ._:-]")
	}
	if !hdNamespace.MatchString(f.SendingFacility) {
		v.add(at+".sending_facility", "required: MSH-4's namespace id, 1 to 64 of [A-Za-z0-9 ._:-]")
	}
	if f.AckBudget < 0 || f.AckBudget.D() > MaxAckBudget {
		v.add(at+".ack_budget", fmt.Sprintf("must be between 0 and %s", MaxAckBudget))
	}
	if f.OnFailure != FeedOnFailureAE && f.OnFailure != FeedOnFailureClose {
		v.add(at+".on_failure", fmt.Sprintf("%q: want %q or %q", f.OnFailure, FeedOnFailureAE, FeedOnFailureClose))
	}
	if f.MaxFrameBytes < 0 || f.MaxFrameBytes > MaxFeedFrameBytes {
		v.add(at+".max_frame_bytes", fmt.Sprintf("must be between 0 and %d", MaxFeedFrameBytes))
	}
	if f.MaxConnections < 0 {
		v.add(at+".max_connections", "must be positive")
	}
	if f.IdleTimeout < 0 || f.FrameTimeout < 0 {
		v.add(at, "timeouts must be positive")
	}
}

func (v *validator) webhooks(at string, cl Client, sec Secrets, awsUsable, dev bool) {
	seen := map[string]bool{}
	for j, w := range cl.Webhooks {
		p := fmt.Sprintf("%s.webhooks[%d]", at, j)
		v.uniqueID(p+".id", "webhook", w.ID, seen)
		u, err := url.Parse(w.URL)
		switch {
		case err != nil || u.Host == "" || u.Opaque != "":
			v.add(p+".url", "must be an absolute https URL")
		case u.User != nil:
			v.add(p+".url", "must not carry credentials")
		case u.Scheme == "http" && !dev:
			v.add(p+".url", "http is refused outside dev_mode; use https")
		case u.Scheme != "https" && u.Scheme != "http":
			v.add(p+".url", "scheme must be https")
		}
		for k, t := range w.EventTypes {
			if !validEventPattern(t) {
				v.add(fmt.Sprintf("%s.event_types[%d]", p, k), fmt.Sprintf("%q is not an event type, a prefix ending in * or *", t))
			}
		}
		for k, id := range w.Connections {
			if !containsString(cl.Connections, id) {
				v.add(fmt.Sprintf("%s.connections[%d]", p, k), fmt.Sprintf("connection %q is not one of the client's", id))
			}
		}
		if w.Payload != PayloadIDs && w.Payload != PayloadFull {
			v.add(p+".payload", fmt.Sprintf("%q: want %q or %q", w.Payload, PayloadIDs, PayloadFull))
		}
		if len(w.SecretRefs) == 0 {
			v.add(p+".secret_refs", "at least one signing secret")
		}
		for k, ref := range w.SecretRefs {
			v.tenantRef(fmt.Sprintf("%s.secret_refs[%d]", p, k), ref, sec, awsUsable, dev)
		}
		if w.BreakerFailures < 0 || w.BreakerOpenFor < 0 {
			v.add(p, "breaker settings must be positive")
		}
	}
}

func validEventPattern(p string) bool {
	if p == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		for _, t := range unified.EventTypes() {
			if strings.HasPrefix(string(t), prefix) {
				return true
			}
		}
		return false
	}
	return unified.EventType(p).Known()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
