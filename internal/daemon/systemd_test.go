package daemon

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notifySocket is a service manager's $NOTIFY_SOCKET: each datagram is one
// sd_notify message.
func notifySocket(t *testing.T) (<-chan string, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: a socket path has ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return msgs, path
}

// awaitNotify reads messages until one has a line for which ok is true.
func awaitNotify(t *testing.T, msgs <-chan string, what string, ok func(line string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			for _, line := range strings.Split(m, "\n") {
				if ok(line) {
					return
				}
			}
		case <-deadline:
			t.Fatalf("systemd was never sent %s", what)
		}
	}
}

// TestSystemdWatchdogStatus: READY=1, then WATCHDOG=1 pings at half of
// $WATCHDOG_USEC, and STATUS= with the active colours, again after a flip.
func TestSystemdWatchdogStatus(t *testing.T) {
	msgs, path := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)) +
		extraService("api", addrOf(blue), addrOf(green), "")
	in := startRun(t, withAppHost(text, "app.test"))

	awaitNotify(t, msgs, "READY=1", func(l string) bool { return l == "READY=1" })
	awaitNotify(t, msgs, "the first STATUS=", func(l string) bool { return l == "STATUS=app=blue gen 0, api=blue gen 0" })
	// Several pings, not one: the loop keeps going.
	for i := 0; i < 3; i++ {
		awaitNotify(t, msgs, fmt.Sprintf("WATCHDOG=1 #%d", i+1), func(l string) bool { return l == "WATCHDOG=1" })
	}
	waitHealthy(t, in.control, "green")
	flip(t, in.control)
	awaitNotify(t, msgs, "STATUS= after the flip", func(l string) bool { return l == "STATUS=app=green gen 1, api=blue gen 0" })
}

func TestWatchdogInterval(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	self := fmt.Sprint(os.Getpid())
	tests := []struct {
		env  map[string]string
		want time.Duration
	}{
		{map[string]string{}, 0},
		{map[string]string{"WATCHDOG_USEC": "30000000"}, 15 * time.Second},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": self}, 15 * time.Second},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 0}, // another process's
		{map[string]string{"WATCHDOG_USEC": "0"}, 0},
		{map[string]string{"WATCHDOG_USEC": "soon"}, 0},
	}
	for _, tt := range tests {
		if got := watchdogInterval(env(tt.env)); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.env, got, tt.want)
		}
	}
}
