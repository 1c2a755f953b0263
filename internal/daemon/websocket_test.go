package daemon

import (
	"context"
	"fmt"
	"github.com/switchd/switchd/internal/testkit"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestStopClosesWebSockets: on a plain stop nothing can accept until switchd
// exits (a restart, socket-activated or not), so Run does not wait for a
// WebSocket to end: it closes it and returns well before shutdown_grace
// (5s here). After an upgrade the old process may wait; see
// TestUpgradeLetsWebSocketsDrain.
func TestStopClosesWebSockets(t *testing.T) {
	echo := httptest.NewServer(testkit.EchoWebSocket(""))
	defer echo.Close()
	green := colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(echo), addrOf(green)))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.proxy, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := wsRoundTrip(conn); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	in.cancel() // SIGTERM
	select {
	case <-in.done:
		in.once.Do(func() {}) // stopped: the cleanup has nothing left to wait for
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if el := time.Since(start); el > 2500*time.Millisecond {
		t.Fatalf("Run returned after %v: it waited for the WebSocket", el)
	}
	if err := wsRoundTrip(conn); err == nil {
		t.Fatal("the WebSocket still works after shutdown")
	}
}
