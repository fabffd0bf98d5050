package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies (-trusted-proxies) whose
// X-Forwarded-For and X-Forwarded-Proto headers are believed. The zero
// value trusts nobody: the client is the direct peer.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies reads a comma-separated list of CIDR prefixes or single
// addresses, e.g. "10.0.0.0/8, 192.168.1.5, ::1".
func ParseProxies(list string) (Proxies, error) {
	var p Proxies
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			prefix, err := netip.ParsePrefix(item)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q is not a CIDR prefix such as 10.0.0.0/8: %w", item, err)
			}
			p.prefixes = append(p.prefixes, prefix.Masked())
			continue
		}
		addr, err := netip.ParseAddr(item)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix: %w", item, err)
		}
		addr = addr.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return p, nil
}

// String lists the prefixes, for logs.
func (p Proxies) String() string {
	parts := make([]string, len(p.prefixes))
	for i, prefix := range p.prefixes {
		parts[i] = prefix.String()
	}
	return strings.Join(parts, ",")
}

func (p Proxies) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, prefix := range p.prefixes {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// peer is the address of the direct peer of r, or an invalid Addr.
func peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap().WithZone("")
}

// parseForwarded reads one X-Forwarded-For entry: an address, maybe with
// a port or in brackets.
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	addr, err := netip.ParseAddr(s)
	if err != nil {
		var ap netip.AddrPort
		if ap, err = netip.ParseAddrPort(s); err == nil {
			addr = ap.Addr()
		} else if addr, err = netip.ParseAddr(strings.Trim(s, "[]")); err != nil {
			return netip.Addr{}, false
		}
	}
	return addr.Unmap().WithZone(""), true // a zone means nothing off this host
}

// ClientAddr is the one client-address function of the API and the UI
// (login limits, logs). The direct peer is the client unless it is a
// trusted proxy; then X-Forwarded-For is read from the right, past every
// trusted proxy, and the first address that is not one is the client.
// Entries left of it were written by the client and are never believed.
func (p Proxies) ClientAddr(r *http.Request) string {
	addr := peer(r)
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if !p.trusted(addr) {
		return addr.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseForwarded(hops[i])
		if !ok {
			break // garbage from the client side: the last proxy's peer is the client
		}
		addr = hop
		if !p.trusted(hop) {
			break
		}
	}
	return addr.String()
}

// HTTPS reports whether the browser reached us over HTTPS: TLS on this
// connection, or X-Forwarded-Proto: https from a trusted proxy.
func (p Proxies) HTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	addr := peer(r)
	return addr.IsValid() && p.trusted(addr) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}
