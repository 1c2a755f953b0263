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
	client := in.RemoteAddr
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(in.RemoteAddr); err == nil {
		ip = ap.Addr().Unmap()
		client = ip.String()
	}
	trusted := ip.IsValid() && h.isTrusted(ip)
	xff := client
	if prior, ok := in.Header["X-Forwarded-For"]; ok && trusted && len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + client
	}
	out.Header["X-Forwarded-For"] = []string{xff}

	host := in.Host
	if v := in.Header.Get("X-Forwarded-Host"); trusted && v != "" {
		host = v
	}
	out.Header["X-Forwarded-Host"] = []string{host}

	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	if v := in.Header.Get("X-Forwarded-Proto"); trusted && v != "" {
		proto = v
	}
	out.Header["X-Forwarded-Proto"] = []string{proto}
}

func (h *Handler) isTrusted(ip netip.Addr) bool {
	for _, p := range *h.trusted.Load() {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
