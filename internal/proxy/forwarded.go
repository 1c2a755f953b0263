package proxy

import (
	"net/http/httputil"
	"net/netip"
	"strings"
)

// setForwarded sets X-Forwarded-For/-Host/-Proto. A peer in the trusted
// proxies has its values extended (For) or kept (Host, Proto); anybody else's
// are replaced, so a client cannot forge its address.
func (h *Handler) setForwarded(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	client := hostOnly(in.RemoteAddr)
	ip, err := netip.ParseAddr(client)
	if err == nil && ip.Is4In6() {
		ip = ip.Unmap()
		client = ip.String()
	}
	trusted := err == nil && h.isTrusted(ip)

	// One backing array for the three values: one allocation, not three.
	vals := make([]string, 3)
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
