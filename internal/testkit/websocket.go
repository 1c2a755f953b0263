package testkit

import (
	"net/http"

	"github.com/coder/websocket"

	"github.com/switchd/switchd/internal/config"
)

// EchoWebSocket is an upstream that accepts WebSockets and answers every
// message with prefix + message; the default health path answers 200.
func EchoWebSocket(prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == config.DefaultHealthPath {
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
