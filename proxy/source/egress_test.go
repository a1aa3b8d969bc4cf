package source

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/ferryhealth/ferry/connectors"
	"github.com/ferryhealth/ferry/proxy/config"
)

func TestPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "2a00:1450:4001:82a::200e": true,
		"::ffff:8.8.8.8": true, "64:ff9b::808:808": true, "2002:808:808::1": true,

		"127.0.0.1": false, "127.255.255.254": false, "10.1.2.3": false, "172.16.0.1": false, "172.31.255.255": false,
		"192.168.1.1": false, "169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "0.1.2.3": false,
		"255.255.255.255": false, "240.0.0.1": false, "224.0.0.1": false, "192.0.2.1": false, "198.18.0.1": false,
		"198.51.100.7": false, "203.0.113.9": false, "192.0.0.8": false,
		"::1": false, "::": false, "fe80::1": false, "fe80::1%eth0": false, "fc00::1": false, "fd12:3456::1": false,
		"ff02::1": false, "fec0::1": false, "2001:db8::1": false, "2001::1": false, "100::1": false, "3fff::1": false,
		// IPv6 spellings of private IPv4 addresses.
		"::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false, "::ffff:10.0.0.1": false, "::127.0.0.1": false,
		"64:ff9b::7f00:1": false, "64:ff9b::a9fe:a9fe": false, "64:ff9b:1::808:808": false,
		"2002:7f00:1::1": false, "2002:a9fe:a9fe::": false, "2002:c0a8:101::1": false,
	} {
		ip := netip.MustParseAddr(s)
		if got := publicAddr(ip); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestEgressControlAtDial: the dial-time check sees the resolved address,
// so a name that resolves to loopback is refused (DNS rebinding).
func TestEgressControlAtDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if c, err := egressDialer(false).DialContext(ctx, "tcp", net.JoinHostPort(host, port)); err == nil {
			c.Close()
			t.Errorf("dial %s reached loopback", host)
		}
	}
	c, err := egressDialer(true).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allow_private_network dial: %v", err)
	}
	c.Close()
}

func TestEgressURLAllowed(t *testing.T) {
	const scheme, host, prefix = "https", "source.example", "/fhir/R4/"
	for _, c := range []struct {
		scheme, host, path string
		want               bool
	}{
		{"https", "source.example", "/fhir/R4/Patient/1", true},
		{"HTTPS", "SOURCE.example:443", "/fhir/R4/Patient", true},
		{"https", "source.example", "/fhir/R4/", true},
		{"http", "source.example", "/fhir/R4/Patient", false},
		{"https", "source.example:8443", "/fhir/R4/Patient", false},
		{"https", "evil.example", "/fhir/R4/Patient", false},
		{"https", "source.example.evil", "/fhir/R4/Patient", false},
		{"https", "source.example", "/fhir/R5/Patient", false},
		{"https", "source.example", "/fhir/R4", false},
		{"https", "source.example", "/fhir/R4/../R5/Patient", false},
		{"https", "source.example", "/fhir/R4/%2e%2e/admin", false},
		{"https", "source.example", "/fhir/R4/%2E%2e/admin", false},
		{"https", "source.example", "/fhir/R4/a%2fb", false},
		{"https", "source.example", "/fhir/R4/a%5cb", false},
		{"https", "source.example", "/fhir/R4//evil.example/x", false},
		{"https", "source.example", "/fhir/R4/a\\b", false},
	} {
		if got := egressURLAllowed(scheme, host, prefix, c.scheme, c.host, c.path); got != c.want {
			t.Errorf("%s://%s%s: %v, want %v", c.scheme, c.host, c.path, got, c.want)
		}
	}
}

// TestSourceRedirectNotFollowed: a source answering 302 to another host
// gets its answer handed back; the other host sees nothing.
func TestSourceRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	defer src.Close()
	tr := testTransport(t, &config.Connection{ID: "demo", BaseURL: src.URL + "/fhir/R4", AllowPrivateNetwork: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := tr.Do(ctx, &connectors.HTTPRequest{Path: "Patient/1"})
	if err != nil || resp.Status != http.StatusFound {
		t.Fatalf("redirect: %v %+v", err, resp)
	}
	if elsewhere.Load() != 0 {
		t.Fatal("the transport followed a redirect to another host")
	}
}

// FuzzPublicAddr: an address publicAddr accepts is none of what the
// standard library calls non-public, in any of its IPv4 or IPv6 forms,
// and an IPv4 address and its mapped IPv6 form get the same answer.
func FuzzPublicAddr(f *testing.F) {
	for _, s := range []string{"8.8.8.8", "127.0.0.1", "::ffff:127.0.0.1", "::1", "fe80::1%lo", "64:ff9b::a00:1",
		"2002:a00:1::", "169.254.169.254", "::ffff:a9fe:a9fe", "100.64.0.1", "fd00::1", "2001:db8::", "0.0.0.0", "[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		ok := publicAddr(ip)
		if ip.Is4() && ok != publicAddr(netip.AddrFrom16(ip.As16())) {
			t.Fatalf("%s and its mapped form disagree", ip)
		}
		if !ok {
			return
		}
		nip := net.IP(ip.Unmap().AsSlice())
		if nip.IsLoopback() || nip.IsPrivate() || nip.IsLinkLocalUnicast() || nip.IsLinkLocalMulticast() ||
			nip.IsMulticast() || nip.IsUnspecified() || nip.IsInterfaceLocalMulticast() || !nip.IsGlobalUnicast() {
			t.Fatalf("publicAddr accepted %s", s)
		}
		if v4 := nip.To4(); v4 != nil && (v4[0] == 0 || v4[0] >= 240 || v4[0] == 100 && v4[1]&0xc0 == 64) {
			t.Fatalf("publicAddr accepted reserved %s", s)
		}
	})
}

// FuzzEgressURL: whatever URL the guard lets through, parsed by the
// standard library and with its dot segments resolved, names the base
// URL's host and port and stays under its path.
func FuzzEgressURL(f *testing.F) {
	for _, s := range [][3]string{
		{"https", "source.example", "/base/Patient/1"}, {"https", "source.example:443", "/base/%2e%2e/x"},
		{"https", "source.example@evil", "/base/x"}, {"https", "[::1]", "/base/x"}, {"https", "source.example", "/base/a%2F..%2Fb"},
		{"https", "source.example", "/base/.%2e/x"}, {"https", "source.example", "/base/x?y=/../z"}, {"https", "xn--sourc-exampl", "/base/"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, scheme, host, p string) {
		if !egressURLAllowed("https", "source.example", "/base/", scheme, host, p) {
			return
		}
		u, err := url.Parse("https://" + host + p)
		if err != nil {
			return // not a URL a client could send anyway
		}
		if !strings.EqualFold(u.Hostname(), "source.example") || (u.Port() != "" && u.Port() != "443") {
			t.Fatalf("%q %q reaches host %q", host, p, u.Host)
		}
		if clean := path.Clean(u.Path); clean != "/base" && !strings.HasPrefix(clean, "/base/") {
			t.Fatalf("%q escapes the base path: %q", p, clean)
		}
		// What the transport builds from it says the same.
		var fu fasthttp.URI
		fu.SetScheme("https")
		fu.SetHost("source.example")
		fu.SetPath(p)
		if got := string(fu.Path()); got != "/base" && !strings.HasPrefix(got, "/base/") {
			t.Fatalf("%q normalises out of the base path: %q", p, got)
		}
	})
}
