package http

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func mustProxies(t *testing.T, list ...string) trustedProxies {
	t.Helper()
	var out trustedProxies
	for _, s := range list {
		p, err := ParseTrustedProxy(s)
		if err != nil {
			t.Fatalf("ParseTrustedProxy(%q): %v", s, err)
		}
		out = append(out, p)
	}
	return out
}

func TestClientIP(t *testing.T) {
	trusted := mustProxies(t, "10.0.0.0/8", "192.0.2.10", "2001:db8:1::/48")
	tests := []struct {
		name    string
		proxies trustedProxies
		peer    string   // RemoteAddr
		xff     []string // X-Forwarded-For header lines
		want    string   // client address
		wantKey string   // rate-limit key (default: want)
	}{
		// Without trusted proxies the header means nothing.
		{"no proxies configured", nil, "10.0.0.1:4000", []string{"198.51.100.7"}, "10.0.0.1", ""},
		{"direct peer, forged header", trusted, "203.0.113.5:4000", []string{"198.51.100.7"}, "203.0.113.5", ""},
		{"direct peer, forged trusted header", trusted, "203.0.113.5:4000", []string{"10.0.0.2"}, "203.0.113.5", ""},
		{"direct peer, no header", trusted, "203.0.113.5:4000", nil, "203.0.113.5", ""},

		// Behind one trusted proxy.
		{"trusted peer", trusted, "10.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7", ""},
		{"trusted peer, client forged the left", trusted, "10.0.0.1:4000", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7", ""},
		{"trusted peer, client forged a trusted address", trusted, "10.0.0.1:4000", []string{"10.9.9.9,198.51.100.7"}, "198.51.100.7", ""},
		{"trusted peer, no header", trusted, "10.0.0.1:4000", nil, "10.0.0.1", ""},
		{"single trusted address", trusted, "192.0.2.10:4000", []string{"198.51.100.7"}, "198.51.100.7", ""},
		{"neighbour of a single trusted address", trusted, "192.0.2.11:4000", []string{"198.51.100.7"}, "192.0.2.11", ""},
		{"entry with a port", trusted, "10.0.0.1:4000", []string{"198.51.100.7:5555"}, "198.51.100.7", ""},

		// Chains of trusted proxies.
		{"chain", trusted, "10.0.0.1:4000", []string{"198.51.100.7, 10.0.0.2, 192.0.2.10"}, "198.51.100.7", ""},
		{"chain, forged left", trusted, "10.0.0.1:4000", []string{"10.1.1.1, 203.0.113.9, 198.51.100.7, 10.0.0.2"}, "198.51.100.7", ""},
		{"chain over several header lines", trusted, "10.0.0.1:4000", []string{"1.2.3.4", "198.51.100.7, 10.0.0.2"}, "198.51.100.7", ""},
		{"all hops trusted", trusted, "10.0.0.1:4000", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3", ""},

		// IPv6: the key is still the /64.
		{"IPv6 client behind IPv6 proxy", trusted, "[2001:db8:1::5]:443", []string{"2001:db8:abcd:12:1:2:3:4"}, "2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd:12::"},
		{"IPv6 client behind IPv4 proxy", trusted, "10.0.0.1:4000", []string{"2001:DB8:ABCD:12::FFFF"}, "2001:db8:abcd:12::ffff", "2001:db8:abcd:12::"},
		{"IPv6 client with port", trusted, "10.0.0.1:4000", []string{"[2001:db8:abcd:12::1]:5555"}, "2001:db8:abcd:12::1", "2001:db8:abcd:12::"},
		{"IPv6 direct peer, forged header", trusted, "[2001:db8:2::5]:443", []string{"198.51.100.7"}, "2001:db8:2::5", "2001:db8:2::"},
		{"IPv4-mapped client", trusted, "10.0.0.1:4000", []string{"::ffff:198.51.100.7"}, "198.51.100.7", ""},
		{"IPv4-mapped peer", trusted, "[::ffff:10.0.0.1]:4000", []string{"198.51.100.7"}, "198.51.100.7", ""},

		// Malformed: the peer, never a panic.
		{"garbage right", trusted, "10.0.0.1:4000", []string{"198.51.100.7, bogus"}, "10.0.0.1", ""},
		{"empty entry", trusted, "10.0.0.1:4000", []string{"198.51.100.7,,10.0.0.2"}, "10.0.0.1", ""},
		{"empty header", trusted, "10.0.0.1:4000", []string{""}, "10.0.0.1", ""},
		{"only commas", trusted, "10.0.0.1:4000", []string{",,,"}, "10.0.0.1", ""},
		{"bad octet", trusted, "10.0.0.1:4000", []string{"999.1.1.1"}, "10.0.0.1", ""},
		{"zone", trusted, "10.0.0.1:4000", []string{"fe80::1%eth0"}, "10.0.0.1", ""},
		{"CIDR", trusted, "10.0.0.1:4000", []string{"198.51.100.0/24"}, "10.0.0.1", ""},
		{"quoted", trusted, "10.0.0.1:4000", []string{`"198.51.100.7"`}, "10.0.0.1", ""},
		{"garbage left of the client is never read", trusted, "10.0.0.1:4000", []string{"<script>, 198.51.100.7"}, "198.51.100.7", ""},
		{"huge", trusted, "10.0.0.1:4000", []string{strings.Repeat("10.0.0.2, ", 50_000) + "x"}, "10.0.0.1", ""},
		{"peer without port", trusted, "10.0.0.1", []string{"198.51.100.7"}, "198.51.100.7", ""},
		{"peer not an address", trusted, "@pipe", []string{"198.51.100.7"}, "@pipe", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.peer, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.proxies.clientIP(r); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
			wantKey := tt.wantKey
			if wantKey == "" {
				wantKey = tt.want
			}
			if got := rateKey(tt.proxies, r); got != wantKey {
				t.Errorf("rateKey = %q, want %q", got, wantKey)
			}
		})
	}
}

func TestParseTrustedProxy(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"}, // masked
		{" 192.0.2.10 ", "192.0.2.10/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:192.0.2.10", "192.0.2.10/32"},
		{"10.0.0.0/33", ""},
		{"10.0.0/8", ""},
		{"nginx", ""},
		{"", ""},
		{"fe80::1%eth0", ""},
		{"fe80::%eth0/64", ""},
		{"10.0.0.1:80", ""},
	}
	for _, tt := range tests {
		p, err := ParseTrustedProxy(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseTrustedProxy(%q) = %v, want an error", tt.in, p)
		case tt.want != "" && (err != nil || p != netip.MustParsePrefix(tt.want)):
			t.Errorf("ParseTrustedProxy(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
}

func TestConfig_TrustedProxies(t *testing.T) {
	cfg := Config{Networks: map[string]NetworkConfig{"main": {PoolAddress: "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"}},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.1/104"), netip.MustParsePrefix("2001:db8::1/32")}}
	got, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	// Masked, and a mapped range compared as the IPv4 one it is.
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	if len(got.TrustedProxies) != 2 || got.TrustedProxies[0] != want[0] || got.TrustedProxies[1] != want[1] {
		t.Errorf("TrustedProxies = %v, want %v", got.TrustedProxies, want)
	}
	cfg.TrustedProxies = []netip.Prefix{{}}
	if _, err := cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), "trusted proxy") {
		t.Fatalf("withDefaults = %v, want a trusted proxy error", err)
	}
}

// FuzzClientIP: whatever the header, the client is the peer or an address
// the header named, and nothing panics.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "1.2.3.4, 198.51.100.7, 10.0.0.2", "", ",", "[::1]:80", "fe80::1%eth0", "10.0.0.3, 10.0.0.2", "::ffff:1.2.3.4"} {
		f.Add("10.0.0.1:4000", s)
	}
	f.Add("203.0.113.5:4000", "198.51.100.7")
	trusted := trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := trusted.clientIP(r)
		if got == remoteIP(r) {
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("clientIP(%q, %q) = %q, not an address", peer, xff, got)
		}
		if pa, err := netip.ParseAddr(remoteIP(r)); err != nil || !trusted.contains(pa) {
			t.Fatalf("clientIP(%q, %q) = %q: the header of an untrusted peer was read", peer, xff, got)
		}
		_ = rateKey(trusted, r)
	})
}
