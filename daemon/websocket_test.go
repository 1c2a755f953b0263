package daemon

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"switchd/internal/testkit"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestShutdownGivesWebSocketsTheGrace: on shutdown a WebSocket keeps
// working until shutdown_grace is over, then is closed, and Run returns.
func TestShutdownGivesWebSocketsTheGrace(t *testing.T) {
	echo := httptest.NewServer(testkit.EchoWebSocket(""))
	defer echo.Close()
	green := colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(echo), addrOf(green))
	text = strings.Replace(text, `shutdown_grace = "5s"`, `shutdown_grace = "700ms"`, 1)
	in := startRun(t, text)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.proxy, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	roundTrip := func() error {
		if err := conn.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			return err
		}
		_, _, err := conn.Read(ctx)
		return err
	}
	if err := roundTrip(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	in.cancel() // SIGTERM
	time.Sleep(300 * time.Millisecond)
	if err := roundTrip(); err != nil {
		t.Fatalf("the WebSocket broke %v into the grace period: %v", time.Since(start), err)
	}
	select {
	case <-in.done:
		in.once.Do(func() {}) // stopped: the cleanup has nothing left to wait for
		if el := time.Since(start); el < 600*time.Millisecond {
			t.Fatalf("Run returned after %v, before the grace period ended", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the grace period")
	}
	if err := roundTrip(); err == nil {
		t.Fatal("the WebSocket still works after shutdown")
	}
}
