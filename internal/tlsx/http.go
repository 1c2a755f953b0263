package tlsx

import (
	"net"
	"net/http"
	"strings"
)

// acmeChallengePath is where ACME CAs fetch HTTP-01 answers (RFC 8555 §8.3).
const acmeChallengePath = "/.well-known/acme-challenge/"

// HTTPHandler wraps next for the plain-HTTP listener. In mode "acme" it
// first answers the CA's HTTP-01 challenges for our orders. Then, with
// redirect_http (and TLS on), every request gets a 308 to the same URL on
// https — 308, not 301, so that a POST stays a POST (RFC 9110 §15.4.9) —
// except under /.well-known/acme-challenge/, which goes to next: some
// other ACME client (an upstream's) may be waiting for it. Without
// redirect_http, requests go to next.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.issuer != nil && m.issuer.HandleHTTPChallenge(w, r) {
			return
		}
		l := m.live.Load()
		if !l.redirect || strings.HasPrefix(r.URL.Path, acmeChallengePath) {
			next.ServeHTTP(w, r)
			return
		}
		host := requestHost(r.Host)
		if host == "" {
			http.Error(w, "a Host header is required", http.StatusBadRequest)
			return
		}
		if l.httpsPort != "" {
			host = net.JoinHostPort(host, l.httpsPort)
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		path := r.URL.EscapedPath()
		if path == "" {
			path = "/"
		}
		target := "https://" + host + path
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		// No Cache-Control: a 308 may be cached, which is what a permanent
		// move to https is.
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
}

// WrapHTTPS wraps next for the https listener: it sets
// Strict-Transport-Security when tls.hsts is set (RFC 6797 §7.1: only over
// secure transport, hence here and not in HTTPHandler).
func (m *Manager) WrapHTTPS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := m.live.Load().hsts; v != "" {
			w.Header().Set("Strict-Transport-Security", v)
		}
		next.ServeHTTP(w, r)
	})
}

// requestHost is the host of a Host header, without port or brackets; ""
// when there is none.
func requestHost(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
