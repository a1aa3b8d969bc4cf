package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/ferryhealth/ferry/auditlog"
	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy"
	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/feed"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/proxy/webhook"
)

// Events is the node's inbound side: the webhook endpoints of every
// client, and an MLLP listener per feed (docs/events.md). It holds no
// state but connections and counters; Close stops it.
type Events struct {
	Webhooks *webhook.Dispatcher
	Feeds    []*feed.Feed
	addrs    map[string]net.Addr
}

// StartEvents builds the webhook endpoints and opens the listener of every
// feed of a tenant this node serves. Feeds map messages with their
// connection's connector, found in conns (which must serve map_event), and
// key webhook-ids and patient references with the tenant's audit key.
func StartEvents(ctx context.Context, cfg *config.Config, cfgHash string, conns proxy.Connectors,
	providers map[string]secrets.Provider, audit feed.Auditor, logger *slog.Logger) (*Events, error) {
	d, err := webhook.New(cfg, providers, webhook.Options{})
	if err != nil {
		return nil, err
	}
	ev := &Events{Webhooks: d, addrs: map[string]net.Addr{}}
	keys := map[string][]byte{}
	for _, cn := range cfg.Connections {
		t := cfg.Tenant(cn.Tenant)
		if cn.Feed == nil || t == nil || !cfg.ServedHere(t) {
			continue
		}
		key, ok := keys[t.ID]
		if !ok {
			v, err := providers[t.ID].Resolve(ctx, t.Audit.KeyRef)
			if err != nil || len(v.Reveal()) < auditlog.MinAuditKeyLen {
				ev.Close()
				return nil, fmt.Errorf("feed %q: the tenant's audit key: %w", cn.ID, errors.Join(err, errors.New("unusable")))
			}
			key, keys[t.ID] = v.Reveal(), v.Reveal()
		}
		c, ok := conns.Connector(cn.Connector)
		mapper, maps := c.(connectors.EventMapper)
		if !ok || !maps {
			ev.Close()
			return nil, fmt.Errorf("feed %q: connector %q maps no events", cn.ID, cn.Connector)
		}
		f, err := feed.New(feed.Options{Connection: cn, Region: cfg.Node.Region, ConfigHash: cfgHash, AuditKey: key,
			Mapper: mapper, Webhooks: d, Audit: audit})
		if err != nil {
			ev.Close()
			return nil, err
		}
		ln, err := f.Listen()
		if err != nil {
			ev.Close()
			return nil, fmt.Errorf("feed %q: %w", cn.ID, err)
		}
		ev.addrs[cn.ID] = ln.Addr()
		ev.Feeds = append(ev.Feeds, f)
		go func() {
			if err := f.Serve(ln); err != nil {
				logger.Error("feed listener failed", "connection", cn.ID, "err", err)
			}
		}()
		logger.Info("feed listening", "connection", cn.ID, "addr", ln.Addr().String(), "tls", cn.Feed.TLS != nil)
	}
	return ev, nil
}

// FeedAddr is where the feed of a connection listens.
func (e *Events) FeedAddr(connection string) net.Addr { return e.addrs[connection] }

// Close stops every feed (a message in flight is not acknowledged: its
// sender resends it) and drops the webhooks' idle connections.
func (e *Events) Close() {
	if e == nil {
		return
	}
	for _, f := range e.Feeds {
		_ = f.Close()
	}
	e.Webhooks.Close()
}

// AppendMetrics appends the feeds' and webhooks' families (docs/events.md)
// in the Prometheus text format. Labels are connection, tenant, client and
// webhook ids from the config.
func (e *Events) AppendMetrics(b []byte) []byte {
	b = family(b, "ferry_feed_messages_total", "Messages a feed received, by the acknowledgement it answered (AA, AE, AR) or close.", "counter")
	for _, f := range e.Feeds {
		id := f.Connection()
		for _, s := range []struct {
			ack string
			v   uint64
		}{{"AA", f.Stats.Accepted.Load()}, {"AE", f.Stats.Errored.Load()}, {"AR", f.Stats.Rejected.Load()}, {"close", f.Stats.Closed.Load()}} {
			b = sample(b, "ferry_feed_messages_total", float64(s.v), "ack", s.ack, "connection", id)
		}
	}
	b = family(b, "ferry_feed_refused_total", "Connections a feed refused before any message: over its limit, outside its CIDRs, a failed TLS handshake.", "counter")
	for _, f := range e.Feeds {
		b = sample(b, "ferry_feed_refused_total", float64(f.Stats.Refused.Load()), "connection", f.Connection())
	}
	eps := e.Webhooks.Endpoints()
	b = family(b, "ferry_webhook_deliveries_total", "Event deliveries to a webhook, by outcome: delivered (2xx), failed (another answer, none, or a timeout), refused (breaker open, no secret).", "counter")
	for _, ep := range eps {
		for _, s := range []struct {
			outcome string
			v       uint64
		}{{"delivered", ep.Stats.Delivered.Load()}, {"failed", ep.Stats.Failed.Load()}, {"refused", ep.Stats.Refused.Load()}} {
			b = sample(b, "ferry_webhook_deliveries_total", float64(s.v), "client", ep.Sub.Client, "outcome", s.outcome, "tenant", ep.Sub.Tenant, "webhook", ep.Sub.ID)
		}
	}
	b = family(b, "ferry_webhook_delivery_seconds_sum", "Time spent on delivered events, per webhook (divide by the delivered count for the mean).", "counter")
	for _, ep := range eps {
		b = sample(b, "ferry_webhook_delivery_seconds_sum", float64(ep.Stats.LatencyMicros.Load())/1e6, "client", ep.Sub.Client, "tenant", ep.Sub.Tenant, "webhook", ep.Sub.ID)
	}
	return b
}

func family(b []byte, name, help, kind string) []byte {
	return fmt.Appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

// sample writes one sample; labels are name, value pairs in name order.
func sample(b []byte, name string, v float64, labels ...string) []byte {
	b = append(b, name...)
	b = append(b, '{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, labels[i]...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, labels[i+1])
	}
	b = append(b, '}', ' ')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, '\n')
}
