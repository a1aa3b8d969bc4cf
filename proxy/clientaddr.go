package proxy

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/valyala/fasthttp"
)

// The client's address, behind load balancers. It is recorded in the audit
// event (source_ip) and nothing else reads it: no limit, residency or
// authorization decision depends on it, so a forged header can at worst
// make an event name the wrong address, and only from a peer the operator
// trusts.

// trustedProxies are node.trusted_proxies, parsed.
type trustedProxies []netip.Prefix

func (tp trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxForwardedHops bounds how much of X-Forwarded-For is read: a chain of
// proxies is a handful long, and a longer header from a trusted peer is
// cut, not walked.
const maxForwardedHops = 16

// clientAddr is the request's client: the peer's address (the PROXY
// header's source when the listener read one from a trusted peer), or,
// when the peer is trusted, the right-most address in X-Forwarded-For that
// is not a trusted proxy. An entry that does not parse ends the walk at
// the last address known good: everything to its left was written by
// whoever the garbage came from.
func (tp trustedProxies) clientAddr(rc *fasthttp.RequestCtx) netip.Addr {
	peer, _ := netip.AddrFromSlice(rc.RemoteIP())
	peer = peer.Unmap()
	if len(tp) == 0 || !tp.trusts(peer) {
		return peer
	}
	// Every X-Forwarded-For header, in order, as one list.
	var hops [maxForwardedHops][]byte
	n := 0
	for _, v := range rc.Request.Header.PeekAll(fasthttp.HeaderXForwardedFor) {
		for part := range bytes.SplitSeq(v, []byte(",")) {
			if n == len(hops) {
				copy(hops[:], hops[1:]) // keep the right-most ones
				n--
			}
			hops[n] = bytes.TrimSpace(part)
			n++
		}
	}
	client := peer
	for i := n - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(string(hops[i]))
		if err != nil || a.Zone() != "" {
			break
		}
		client = a.Unmap()
		if !tp.trusts(client) {
			break
		}
	}
	return client
}

// proxyProtocolListener reads a PROXY protocol v2 header from trusted
// peers' connections (pires/go-proxyproto, a maintained implementation of
// HAProxy's spec, fuzzed upstream). Other peers' connections are handed on
// untouched: a header one of them sends is never parsed, and fails as a
// malformed HTTP request.
func proxyProtocolListener(ln net.Listener, tp trustedProxies) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: 5 * time.Second,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			ap, err := netip.ParseAddrPort(o.Upstream.String())
			if err != nil || !tp.trusts(ap.Addr()) {
				return proxyproto.SKIP, nil
			}
			return proxyproto.USE, nil
		},
		ValidateHeader: func(h *proxyproto.Header) error {
			if h.Version != 2 {
				return errProxyV1
			}
			return nil
		},
	}
}

var errProxyV1 = errors.New("proxy: PROXY protocol v1 header refused: only v2 is read")
