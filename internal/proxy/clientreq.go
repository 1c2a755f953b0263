package proxy

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// refusal says why a request is the client's mistake before any upstream
// sees it: status and message, or 0 when the request may go on.
func refusal(r *http.Request) (int, string) {
	if r.Method == http.MethodConnect {
		// switchd is a reverse proxy, not a tunnel: a CONNECT would make
		// the Transport fail and read as an unreachable upstream.
		return http.StatusMethodNotAllowed, "405 method not allowed: CONNECT"
	}
	return 0, ""
}

// badTrailer reports whether the (already read) trailer of a buffered body
// carries a field that may not be a trailer, such as Content-Length: the
// Transport refuses to send such a request, which would read as an
// unreachable upstream (RFC 9110 §6.5.1).
func badTrailer(t http.Header) bool {
	for k := range t {
		if !httpguts.ValidTrailerHeader(k) {
			return true
		}
	}
	return false
}

// stripUpgrade removes an Upgrade header that does not ask for exactly a
// WebSocket, or that comes with a body, so that the request goes to the
// upstream as a plain one (as nginx does without proxy_set_header
// Upgrade). forward switches protocols on any Upgrade token the upstream
// agrees to, after which the bytes go through unparsed; only a WebSocket
// is wanted here, and a WebSocket handshake has no body: the body of one
// that had would still be read from the client's connection after the
// switch, by the upstream client, while the tunnel reads it too. The
// Connection header naming "upgrade" goes with the other hop-by-hop
// headers in forward, and without Upgrade it asks for nothing.
func stripUpgrade(r *http.Request) {
	v, ok := r.Header["Upgrade"]
	if !ok {
		return
	}
	if len(v) == 1 && strings.EqualFold(strings.TrimSpace(v[0]), "websocket") && r.ContentLength == 0 {
		return
	}
	delete(r.Header, "Upgrade")
}
