package residency

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Region is a named place where Ferry runs: one deployment per region,
// reached by clients at its public endpoint.
type Region struct {
	// Name is the region's id ("eu", "us"), the value of node.region,
	// tenants[].home_region and every other region field of the config.
	Name string
	// Endpoint is the region's public Ferry base URL
	// ("https://eu.ferry.example"): named in 421 answers and the target of
	// forwarded requests.
	Endpoint string
	// AWSRegions are the AWS regions that lie in this region
	// ("eu-west-1"). An AWS region named exactly like the region counts
	// too, so a region called "eu-west-1" needs no list.
	AWSRegions []string
}

// HasAWSRegion reports whether the AWS region aws lies in r.
func (r Region) HasAWSRegion(aws string) bool {
	return aws != "" && (aws == r.Name || slices.Contains(r.AWSRegions, aws))
}

// Tenant is a tenant's placement: where it is served, and where its data
// may be.
type Tenant struct {
	// Home is the region whose nodes serve the tenant's requests.
	Home string
	// Allowed are further regions where the tenant's data may sit (a
	// source, a secret, an audit sink). The home region is always allowed.
	Allowed []string
}

// Allows reports whether the tenant's data may sit in region.
func (t Tenant) Allows(region string) bool {
	return region != "" && (region == t.Home || slices.Contains(t.Allowed, region))
}

// Regions returns the home region followed by the other allowed ones.
func (t Tenant) Regions() []string {
	out := []string{t.Home}
	for _, r := range t.Allowed {
		if r != t.Home && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Mode is what a node does with a request for a tenant it does not serve.
type Mode string

// The misdirected-request modes.
const (
	// Redirect answers 421 Misdirected Request naming the home region's
	// endpoint. The default: the node never touches the request further.
	Redirect Mode = "redirect"
	// Forward relays the request to the home region's endpoint and relays
	// the answer back, once (a forwarded request is never forwarded again).
	Forward Mode = "forward"
)

// ParseMode parses a config value; "" is the default, Redirect.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", Redirect:
		return Redirect, nil
	case Forward:
		return Forward, nil
	}
	return "", fmt.Errorf("unknown mode %q (redirect, forward)", s)
}

// Action is the decision for one request.
type Action int

// The decisions.
const (
	// Serve: this node is in the tenant's home region.
	Serve Action = iota
	// Misdirect: answer 421 with the home region's endpoint.
	Misdirect
	// Relay: forward the request to the home region's endpoint.
	Relay
)

func (a Action) String() string {
	switch a {
	case Serve:
		return "serve"
	case Misdirect:
		return "redirect"
	case Relay:
		return "forward"
	}
	return "unknown"
}

// Decide says what a node of region node does with a request for a tenant
// whose home region is home. An empty home means the deployment declares no
// regions (dev mode): every node serves every tenant. forwarded says the
// request already came from another node: it is then never forwarded again,
// whatever mode says, so that two nodes that disagree about a tenant's home
// (a config rolled out to one region first) cannot bounce a request between
// them.
func Decide(node, home string, mode Mode, forwarded bool) Action {
	switch {
	case home == "" || home == node:
		return Serve
	case mode == Forward && !forwarded:
		return Relay
	}
	return Misdirect
}

// namePattern is the shape of a region name: it appears in headers, audit
// events and metrics, so it is kept to the config's id alphabet.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidName reports whether s may name a region.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// ErrEndpoint is wrapped by every CheckEndpoint error.
var ErrEndpoint = errors.New("bad region endpoint")

// CheckEndpoint checks a region's public endpoint: an absolute https URL
// without credentials, query or fragment, whose path (if any) is a prefix
// the region's API lives under. Plain http is accepted only when
// allowInsecure is set and the host is a loopback literal (tests on one
// machine), so a forwarded request, which carries the client's API key,
// never crosses a network in clear.
func CheckEndpoint(raw string, allowInsecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || u.Hostname() == "" {
		return fmt.Errorf("%w: must be an absolute https URL", ErrEndpoint)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("%w: must not carry credentials", ErrEndpoint)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("%w: must not have a query or fragment", ErrEndpoint)
	case strings.Contains(u.Path, "/..") || strings.Contains(u.Path, "/./") || strings.HasSuffix(u.Path, "/."):
		return fmt.Errorf("%w: must not contain dot segments", ErrEndpoint)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); allowInsecure && (h == "127.0.0.1" || h == "::1" || h == "localhost") {
			return nil
		}
		return fmt.Errorf("%w: http only on a loopback host and with dev_mode; use https", ErrEndpoint)
	}
	return fmt.Errorf("%w: scheme must be https", ErrEndpoint)
}

// Header names of the region protocol between nodes and to clients. They
// are API.
const (
	// HeaderForwardedFrom marks a request relayed by another node; its
	// value is that node's region. A node never forwards a request that
	// carries it (the loop guard).
	HeaderForwardedFrom = "X-Ferry-Forwarded-From"
	// HeaderHomeRegion and HeaderHomeEndpoint name, on a 421 answer, the
	// tenant's home region and where to send the request instead.
	HeaderHomeRegion   = "X-Ferry-Home-Region"
	HeaderHomeEndpoint = "X-Ferry-Home-Endpoint"
	// HeaderServedBy names, on a forwarded answer, the region that served it.
	HeaderServedBy = "X-Ferry-Served-By"
)
