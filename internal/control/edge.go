package control

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"

	"github.com/switchd/switchd/internal/config"
)

// The browser rules. A web page can make a browser send a request to the
// control API (a form POST, fetch with mode "no-cors", an <img>), and with
// DNS rebinding even read the answer. Such requests give themselves away:
//   - Host is the attacker's name (DNS rebinding: evil.example resolves to
//     127.0.0.1 after the page loaded), never an address of ours;
//   - Origin is sent with every POST and every cross-origin fetch (RFC 6454
//     §7, Fetch standard "append a request Origin header"), never with a
//     same-origin GET: the status page's own refetches and EventSource
//     carry none (TestStatusPageInBrowser);
//   - Sec-Fetch-Site says "cross-site" or "same-site" (Fetch Metadata);
//   - a body without a CORS preflight can only be text/plain, form-urlencoded
//     or multipart: application/json always needs one, which we never grant.
//
// switchctl, curl and Prometheus send none of these.

// edgeRefusal reports why r must be refused before anything else looks at
// it: status, code and message; status 0 lets it through.
func (s *Server) edgeRefusal(r *http.Request) (int, string, string) {
	if !s.hostAllowed(r) {
		return http.StatusForbidden, CodeForbiddenOrigin, fmt.Sprintf("Host %q is not an address of this control API", r.Host)
	}
	if _, ok := r.Header["Origin"]; ok {
		return http.StatusForbidden, CodeForbiddenOrigin, "requests from web pages (with an Origin header) are refused"
	}
	for _, v := range r.Header.Values("Sec-Fetch-Site") {
		if v != "none" && v != "same-origin" {
			return http.StatusForbidden, CodeForbiddenOrigin, fmt.Sprintf("Sec-Fetch-Site %q: requests from other sites are refused", v)
		}
	}
	return 0, "", ""
}

// jsonOnly answers 415 to a mutation whose Content-Type is not JSON, and
// reports whether it did. Routes call it once the method is known to be
// theirs, so that a wrong method still gets its 405.
func jsonOnly(w http.ResponseWriter, r *http.Request) bool {
	if !mutating(r.Method) || isJSON(r.Header.Values("Content-Type")) {
		return false
	}
	writeError(w, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		fmt.Sprintf("%s %s needs Content-Type: application/json", r.Method, r.URL.Path))
	return true
}

// mutating is every method but the safe ones (RFC 9110 §9.2.1): a new or
// unknown method is held to the JSON rule rather than let through.
func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// isJSON reports whether the one Content-Type is application/json,
// parameters such as "; charset=utf-8" allowed. Even a body-less mutation
// (rollback, reload) needs it: an empty text/plain POST is exactly what a
// cross-site form sends.
func isJSON(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt, _, err := mime.ParseMediaType(values[0])
	return err == nil && mt == "application/json"
}

// hostAllowed reports whether r's Host names this API: "localhost", a
// loopback IP, the IP the connection arrived at, or one of Options.Hosts,
// with any port (a port forward or NAT changes it, and a browser cannot
// forge another port's Host anyway). On a unix socket any Host goes: no
// browser can connect to one.
func (s *Server) hostAllowed(r *http.Request) bool {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if _, ok := local.(*net.UnixAddr); ok {
		return true
	}
	host := config.RequestHost(r.Host)
	if host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return slices.Contains(s.o.Hosts, host)
	}
	ip = ip.WithZone("").Unmap()
	if ip.IsLoopback() {
		return true
	}
	if tcp, ok := local.(*net.TCPAddr); ok {
		if mine, ok := netip.AddrFromSlice(tcp.IP); ok && mine.Unmap() == ip {
			return true
		}
	}
	return slices.Contains(s.o.Hosts, host)
}
