package http

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the address ranges of the reverse proxies (nginx,
// HAProxy) the operator put in front of the frontend. Only a request whose
// TCP peer is one of them has its X-Forwarded-For header believed: anyone
// else can write that header.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address of the client a request comes from: the TCP peer,
// or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy. Every proxy appends
// the address it got the request from, so the entries to the right of the
// first untrusted one were written by trusted proxies, and the ones to its
// left are whatever the client sent (forgeable). A malformed entry met on
// the way makes the peer the answer: a broken proxy chain must not let a
// client pick its own rate-limit key.
func (t trustedProxies) clientIP(r *http.Request) string {
	peer := remoteIP(r)
	if len(t) == 0 {
		return peer
	}
	pa, err := netip.ParseAddr(peer)
	if err != nil || !t.contains(pa) {
		return peer
	}
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) == 0 {
		return peer // the proxy itself (a health check), or one that forwards nothing
	}
	// Repeated header lines are one comma-separated list (RFC 9110 §5.3).
	list := strings.Join(xff, ",")
	var leftmost netip.Addr
	for rest := list; ; {
		i := strings.LastIndexByte(rest, ',')
		a, ok := parseForwarded(rest[i+1:])
		if !ok {
			return peer
		}
		if !t.contains(a) {
			return a.String()
		}
		leftmost = a
		if i < 0 {
			break
		}
		rest = rest[:i]
	}
	// Every hop is a trusted proxy: the request started inside the trusted
	// network, at the left-most of them.
	return leftmost.String()
}

// parseForwarded reads one X-Forwarded-For entry: an IPv4 or IPv6 address,
// optionally with a port ("192.0.2.1:4711", "[2001:db8::1]:4711"), as some
// proxies write it. Zones and anything else are malformed.
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// ParseTrustedProxy reads a trusted proxy range: a CIDR ("10.0.0.0/8",
// "2001:db8::/32") or a single address ("192.0.2.10", meaning /32 or /128).
// The prefix is returned masked; an IPv4-mapped IPv6 form is turned into
// its IPv4 range, the form requests are compared in.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, &net.ParseError{Type: "IP address", Text: s}
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return normalizeProxy(p), nil
}

// normalizeProxy masks a prefix and turns an IPv4-mapped IPv6 one into its
// IPv4 range: addresses are compared unmapped.
func normalizeProxy(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}
