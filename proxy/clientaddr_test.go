package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/valyala/fasthttp"
)

// TestClientAddr: X-Forwarded-For is read only from a trusted peer, from
// the right, and the first address that is not a trusted proxy is the
// client's; what a client writes itself (spoofing attempts) never becomes
// the address unless a trusted proxy vouches for the hop.
func TestClientAddr(t *testing.T) {
	tp := trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxies trusted: the peer", "203.0.113.9", []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted peer spoofs the header", "203.0.113.9", []string{"10.0.0.1, 198.51.100.1"}, "203.0.113.9"},
		{"trusted peer, no header", "10.1.1.1", nil, "10.1.1.1"},
		{"trusted peer, one hop", "10.1.1.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client prepends a spoofed address", "10.1.1.1", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.1.1", []string{"198.51.100.7, 10.2.2.2, 10.3.3.3"}, "198.51.100.7"},
		{"client claims to be a trusted proxy", "10.1.1.1", []string{"10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"every hop trusted: the left-most", "10.1.1.1", []string{"10.4.4.4, 10.2.2.2"}, "10.4.4.4"},
		{"headers split across lines", "10.1.1.1", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7"},
		{"garbage at the right: the peer", "10.1.1.1", []string{"198.51.100.7, not-an-ip"}, "10.1.1.1"},
		{"garbage behind a trusted hop", "10.1.1.1", []string{"junk, 10.2.2.2"}, "10.2.2.2"},
		{"address with a port is garbage", "10.1.1.1", []string{"198.51.100.7:443"}, "10.1.1.1"},
		{"IPv6 zone is garbage", "10.1.1.1", []string{"fe80::1%eth0"}, "10.1.1.1"},
		{"IPv4-mapped IPv6", "10.1.1.1", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"IPv6 client behind IPv6 proxy", "fd00::1", []string{"2001:db8::5"}, "2001:db8::5"},
		{"empty entries", "10.1.1.1", []string{", ,"}, "10.1.1.1"},
		{"long header: only the right-most hops read", "10.1.1.1", []string{strings.Repeat("10.0.0.1, ", 100) + "198.51.100.7"}, "198.51.100.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxies := tp
			if strings.HasPrefix(c.name, "no proxies") {
				proxies = nil
			}
			var rc fasthttp.RequestCtx
			rc.Init(&fasthttp.Request{}, net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(c.peer), 4000)), nil)
			for _, v := range c.xff {
				rc.Request.Header.Add("X-Forwarded-For", v)
			}
			if got := proxies.clientAddr(&rc).String(); got != c.want {
				t.Fatalf("client %s, want %s", got, c.want)
			}
		})
	}
}

func FuzzClientAddr(f *testing.F) {
	f.Add("10.1.1.1", "198.51.100.7, 10.2.2.2")
	f.Add("203.0.113.9", "::ffff:1.2.3.4,,junk")
	tp := trustedProxies{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		a, err := netip.ParseAddr(peer)
		if err != nil || a.Zone() != "" {
			return
		}
		var rc fasthttp.RequestCtx
		rc.Init(&fasthttp.Request{}, net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 1)), nil)
		rc.Request.Header.Set("X-Forwarded-For", xff)
		got := tp.clientAddr(&rc)
		// Never an address the header names unless a trusted peer sent it.
		if !tp.trusts(a) && got != a.Unmap() {
			t.Fatalf("untrusted peer %s made the client %s", a, got)
		}
		if !got.IsValid() && a.IsValid() {
			t.Fatalf("no address for peer %s", a)
		}
	})
}

// TestProxyProtocolV2: with node.proxy_protocol, a PROXY v2 header from a
// trusted peer names the client in the audit event; a trusted peer may
// also send none; a header from an untrusted peer is not read (the request
// fails to parse), and a v1 header is refused.
func TestProxyProtocolV2(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted string
		header  *proxyproto.Header
		ok      bool
		want    string
	}{
		{"trusted peer, v2 header", "127.0.0.0/8", v2Header(2), true, "198.51.100.23"},
		{"trusted peer, no header", "127.0.0.0/8", nil, true, "127.0.0.1"},
		{"untrusted peer, v2 header", "10.0.0.0/8", v2Header(2), false, ""},
		{"trusted peer, v1 header", "127.0.0.0/8", v2Header(1), false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := start(t, func(m map[string]any) {
				n := m["node"].(map[string]any)
				n["trusted_proxies"], n["proxy_protocol"] = []string{c.trusted}, true
			})
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if c.header != nil {
				if _, err := c.header.WriteTo(conn); err != nil {
					t.Fatal(err)
				}
			}
			fmt.Fprintf(conn, "GET /v1/demo/patients?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", keyDemo)
			status, err := bufio.NewReader(conn).ReadString('\n')
			if c.ok != (err == nil && strings.Contains(status, " 200 ")) {
				t.Fatalf("answer %q %v, want served: %v", status, err, c.ok)
			}
			if !c.ok {
				return
			}
			evs := e.audit.events(t)
			if got := evs[len(evs)-1]["source_ip"]; got != c.want {
				t.Fatalf("source_ip %v, want %s", got, c.want)
			}
		})
	}
}

func v2Header(version byte) *proxyproto.Header {
	return &proxyproto.Header{Version: version, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
		SourceAddr:      &net.TCPAddr{IP: net.ParseIP("198.51.100.23"), Port: 51000},
		DestinationAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}}
}
