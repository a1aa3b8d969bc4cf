package source

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
)

// The egress policy: what a connection may reach. Two checks, at two
// moments:
//
//   - before a request is sent, its URL must lie under the connection's base
//     URL: same scheme, host and port, and a path below the base path with
//     no dot segment, plain or percent-encoded (allowsURI);
//   - when a socket connects, after DNS resolution, the address must be a
//     public unicast one unless the connection allows private networks
//     (egressControl). Checking the resolved address, not the name, defeats
//     DNS rebinding.
//
// Redirects are never followed: the source client makes one request per
// call and hands a 3xx back to the connector, which can only ask for
// another path under the same base URL; the token client
// (outauth.TokenSource) refuses redirects too.

// errEgressDenied is returned by the dialer for an address the connection
// may not reach.
var errEgressDenied = errors.New("egress to this address is not allowed")

// egressDialer dials only addresses the connection may reach: its sources
// and its token endpoint alike.
func egressDialer(allowPrivate bool) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: egressControl(allowPrivate)}
}

// egressControl checks the address a socket is about to connect to, after
// DNS resolution.
func egressControl(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !publicAddr(ap.Addr()) {
			return errEgressDenied
		}
		return nil
	}
}

// nonPublic are the ranges that are not globally reachable unicast space,
// or that reach somewhere other than what they seem (IANA special-purpose
// registries, RFC 6890 and successors), beyond what netip's predicates
// cover. Parsed once rather than per dial.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
		"240.0.0.0/4",     // reserved, and the broadcast address
		"::/96",           // IPv4-compatible (deprecated) and unspecified
		"64:ff9b:1::/48",  // local-use NAT64 (RFC 8215)
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments, Teredo among them
		"2001:db8::/32",   // documentation
		"3fff::/20",       // documentation (RFC 9637)
		"fc00::/7",        // unique local
		"fec0::/10",       // site-local (deprecated)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Translation prefixes whose addresses embed an IPv4 address: the
// connection really goes to that address, so it is what gets checked.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// publicAddr reports whether ip is a globally routable unicast address a
// source may have: not loopback, private, link-local, multicast, reserved
// or documentation space, in IPv4 or IPv6, and not an IPv6 form (mapped,
// NAT64, 6to4) of an IPv4 address that is not public itself.
func publicAddr(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if nat64WellKnown.Contains(ip) {
		b := ip.As16()
		return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	}
	if sixToFour.Contains(ip) {
		b := ip.As16()
		return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
	}
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() ||
		ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// allowsURI reports whether u, a request the transport is about to send,
// lies under the connection's base URL: same scheme, same host and port,
// a path below the base path with no dot segment (plain or
// percent-encoded), no encoded slash or backslash that a source could
// decode into another path.
func (s *httpSource) allowsURI(u *fasthttp.URI) bool {
	// The URI's bytes are read in place (viewed as strings for the call, not
	// copied: this runs on every source request); egressURLAllowed keeps
	// none of them.
	return egressURLAllowed(s.scheme, s.host, s.prefix, view(u.Scheme()), view(u.Host()), view(u.PathOriginal()))
}

// view is b as a string without a copy, for a read-only use that ends
// before b changes.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// egressURLAllowed is allowsURI on strings: scheme, host ("name[:port]")
// and path prefix (ending in "/") of the base URL, and the target's.
func egressURLAllowed(scheme, host, prefix, tScheme, tHost, tPath string) bool {
	if !strings.EqualFold(scheme, tScheme) || !sameHost(scheme, host, tHost) {
		return false
	}
	rest, ok := strings.CutPrefix(tPath, prefix)
	if !ok {
		return false
	}
	return rest == "" || connectors.ValidRelativePath(rest)
}

// sameHost compares two Host values, a default port written or not.
func sameHost(scheme, a, b string) bool {
	return strings.EqualFold(withPort(scheme, a), withPort(scheme, b))
}

func withPort(scheme, h string) string {
	if _, _, err := net.SplitHostPort(h); err == nil {
		return h
	}
	port := "80"
	if strings.EqualFold(scheme, "https") {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(h, "[]"), port)
}

// EgressDialer is the dialer of the egress policy for other outbound
// clients of the host (webhook deliveries): it refuses loopback, private,
// link-local and reserved addresses at connect time, after DNS
// resolution, unless allowPrivate.
func EgressDialer(allowPrivate bool) *net.Dialer { return egressDialer(allowPrivate) }
