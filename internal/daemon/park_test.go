package daemon

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestIdleConnsParked: kept-alive client connections idle for longer than
// parkAfter stop holding a goroutine each in switchd, and every one of them
// still carries its client's next request, a POST no client would resend.
func TestIdleConnsParked(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green))
	in := startRun(t, text)
	host := strings.TrimPrefix(in.proxy, "http://")

	const n = 100
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	roundTrip := func(c conn, req string) {
		t.Helper()
		if _, err := io.WriteString(c.c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "blue" {
			t.Fatalf("%d %q, want 200 blue", resp.StatusCode, b)
		}
	}
	conns := make([]conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		conns[i] = conn{c, bufio.NewReader(c)}
		roundTrip(conns[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	busy := runtime.NumGoroutine()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > busy-n*9/10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines %v after %d connections went idle (%d while they were busy)", runtime.NumGoroutine(), parkAfter, n, busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range conns {
		roundTrip(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	}
}
