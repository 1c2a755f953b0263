package testkit

import (
	"net/http"

	"github.com/coder/websocket"
)

// EchoWebSocket is an upstream that accepts WebSockets and answers every
// message with prefix + message; /healthz answers 200 for health checks.
func EchoWebSocket(prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if c.Write(r.Context(), typ, append([]byte(prefix), msg...)) != nil {
				return
			}
		}
	})
}
