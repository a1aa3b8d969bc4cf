package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Drain is what SIGTERM does: /readyz answers 503 at once, the API keeps
// accepting for Delay (so load balancers see the node leave before it
// stops taking connections), requests in flight get Grace to finish, then
// the audit queues are flushed and every chain gets its final checkpoint.
type Drain struct {
	// Delay keeps the API accepting after SIGTERM while /readyz says 503.
	// Default "0s"; behind a load balancer, at least its health check's
	// interval times its unhealthy threshold. At most "5m".
	Delay Duration `json:"delay,omitempty"`
	// Grace bounds how long requests in flight may take to finish once
	// accepting stopped, and then how long the audit queues have to flush.
	// Default "15s"; between "1s" and "10m".
	Grace Duration `json:"grace,omitempty"`
}

// Backoff is a capped exponential backoff: Min, then twice as long each
// time, at most Max.
type Backoff struct {
	// Min is the first wait. Default "1s".
	Min Duration `json:"min,omitempty"`
	// Max is the longest wait. Default "30s"; at least min, at most "1h".
	Max Duration `json:"max,omitempty"`
}

// Lifecycle defaults.
const (
	DefaultDrainGrace      = 15 * time.Second
	DefaultTenantRetryMin  = time.Second
	DefaultTenantRetryMax  = 30 * time.Second
	maxDrainDelay          = 5 * time.Minute
	maxDrainGrace          = 10 * time.Minute
	maxTenantRetry         = time.Hour
	minDrainGrace          = time.Second
	minTenantRetryInterval = 10 * time.Millisecond
)

func (n *Node) applyLifecycleDefaults() {
	if n.Drain.Grace == 0 {
		n.Drain.Grace = Duration(DefaultDrainGrace)
	}
	if n.TenantRetry.Min == 0 {
		n.TenantRetry.Min = Duration(DefaultTenantRetryMin)
	}
	if n.TenantRetry.Max == 0 {
		n.TenantRetry.Max = Duration(max(DefaultTenantRetryMax, n.TenantRetry.Min.D()))
	}
}

// TrustedPrefixes parses trusted_proxies (validated: no error).
func (n *Node) TrustedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(n.TrustedProxies))
	for _, c := range n.TrustedProxies {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func (v *validator) checkLifecycle(n *Node) {
	for i, c := range n.TrustedProxies {
		if _, err := netip.ParsePrefix(c); err != nil {
			v.add(fmt.Sprintf("$.node.trusted_proxies[%d]", i), "want a CIDR such as 10.0.0.0/8 or fd00::/8")
		}
	}
	if n.ProxyProtocol && len(n.TrustedProxies) == 0 {
		v.add("$.node.proxy_protocol", "needs node.trusted_proxies: a PROXY header is read only from them")
	}
	if d := n.Drain.Delay.D(); d < 0 || d > maxDrainDelay {
		v.add("$.node.drain.delay", "must be between 0s and 5m")
	}
	if d := n.Drain.Grace.D(); d < minDrainGrace || d > maxDrainGrace {
		v.add("$.node.drain.grace", "must be between 1s and 10m")
	}
	if d := n.TenantRetry.Min.D(); d < minTenantRetryInterval || d > maxTenantRetry {
		v.add("$.node.tenant_retry.min", "must be between 10ms and 1h")
	}
	if d := n.TenantRetry.Max.D(); d < n.TenantRetry.Min.D() || d > maxTenantRetry {
		v.add("$.node.tenant_retry.max", "must be between tenant_retry.min and 1h")
	}
}

// Next is the wait after one that lasted last (0: the first).
func (b Backoff) Next(last time.Duration) time.Duration {
	if last <= 0 {
		return b.Min.D()
	}
	return min(2*last, b.Max.D())
}
