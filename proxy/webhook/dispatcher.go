package webhook

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ferryhealth/ferry/proxy/config"
	"github.com/ferryhealth/ferry/proxy/secrets"
	"github.com/ferryhealth/ferry/unified"
)

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// Dispatcher holds every webhook endpoint of the tenants this node serves.
type Dispatcher struct {
	byTenant map[string][]*Endpoint
}

// Options change how a Dispatcher is built.
type Options struct {
	// Now is the clock of webhook-timestamp; nil means time.Now.
	Now func() time.Time
}

// New builds the endpoints of every client's webhooks, each resolving its
// signing secrets with its tenant's provider (at each delivery, so a
// rotated secret is picked up as the provider's cache expires).
func New(cfg *config.Config, providers map[string]secrets.Provider, o Options) (*Dispatcher, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Dispatcher{byTenant: map[string][]*Endpoint{}}
	for _, cl := range cfg.Clients {
		t := cfg.Tenant(cl.Tenant)
		if t == nil || !cfg.ServedHere(t) {
			continue
		}
		for _, w := range cl.Webhooks {
			sp := providers[cl.Tenant]
			if sp == nil {
				return nil, fmt.Errorf("tenant %q: no secrets provider", cl.Tenant)
			}
			conns := w.Connections
			if len(conns) == 0 {
				conns = cl.Connections
			}
			sub := Subscription{Tenant: cl.Tenant, Client: cl.ID, ID: w.ID, URL: w.URL, Types: w.EventTypes,
				Connections: conns, Full: w.Payload == config.PayloadFull, SecretRefs: w.SecretRefs}
			d.byTenant[cl.Tenant] = append(d.byTenant[cl.Tenant],
				newEndpoint(sub, sp, w.AllowPrivateNetwork, w.BreakerFailures, w.BreakerOpenFor.D(), o.Now))
		}
	}
	return d, nil
}

// Matching returns the endpoints subscribed to events of type t from a
// connection of tenant, in config order.
func (d *Dispatcher) Matching(tenant, connection string, t unified.EventType) []*Endpoint {
	var out []*Endpoint
	for _, e := range d.byTenant[tenant] {
		if e.Sub.Matches(connection, t) {
			out = append(out, e)
		}
	}
	return out
}

// Endpoints returns every endpoint, for metrics.
func (d *Dispatcher) Endpoints() []*Endpoint {
	var out []*Endpoint
	for _, es := range d.byTenant {
		out = append(out, es...)
	}
	return out
}

// Close drops every endpoint's idle connections.
func (d *Dispatcher) Close() {
	for _, es := range d.byTenant {
		for _, e := range es {
			e.Close()
		}
	}
}
