package proxy

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddrHeaders name the client's address (or port) for the upstream in
// the ways other proxies and CDNs do. upstreamHeader drops Forwarded and
// X-Forwarded-For/-Host/-Proto; these it passes on, so a client could
// forge its address to an upstream that believes one of them.
var clientAddrHeaders = [...]string{"X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "X-Forwarded-Port",
	"X-Cluster-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip"}

// setForwarded sets X-Forwarded-For/-Host/-Proto and X-Real-IP. A peer in
// the trusted proxies has its values extended (For) or kept (Host, Proto,
// X-Real-IP and the other clientAddrHeaders); anybody else's are replaced
// or, for the headers switchd does not set, removed, so a client cannot
// forge its address.
func (h *Handler) setForwarded(in, out *http.Request) {
	client := hostOnly(in.RemoteAddr)
	ip, err := netip.ParseAddr(client)
	if err == nil && ip.Is4In6() {
		ip = ip.Unmap()
		client = ip.String()
	}
	trusted := err == nil && h.isTrusted(ip)

	if !trusted {
		for _, k := range clientAddrHeaders {
			delete(out.Header, k)
		}
	}
	// One backing array for the four values: one allocation, not four.
	vals := make([]string, 4)
	vals[0] = client
	if prior, ok := in.Header["X-Forwarded-For"]; ok && trusted && len(prior) > 0 {
		vals[0] = strings.Join(prior, ", ") + ", " + client
	}
	vals[1] = in.Host
	if v := in.Header.Get("X-Forwarded-Host"); trusted && v != "" {
		vals[1] = v
	}
	vals[2] = "http"
	if in.TLS != nil {
		vals[2] = "https"
	}
	if v := in.Header.Get("X-Forwarded-Proto"); trusted && v != "" {
		vals[2] = v
	}
	// X-Real-IP is the peer, as nginx setups (proxy_set_header X-Real-IP
	// $remote_addr) have taught upstreams to expect; a trusted proxy's stays.
	vals[3] = client
	if v := in.Header.Get("X-Real-Ip"); trusted && v != "" {
		vals[3] = v
	}
	out.Header["X-Real-Ip"] = vals[3:4:4]
	out.Header["X-Forwarded-For"] = vals[0:1:1]
	out.Header["X-Forwarded-Host"] = vals[1:2:2]
	out.Header["X-Forwarded-Proto"] = vals[2:3:3]
}

// hostOnly strips the port from an "ip:port" or "[ip]:port" remote address
// without allocating.
func hostOnly(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
}

func (h *Handler) isTrusted(ip netip.Addr) bool {
	for _, p := range *h.trusted.Load() {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
