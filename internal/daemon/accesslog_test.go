package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchd/switchd/internal/config"
)

// accessLines returns the "request" lines in out, decoded.
func accessLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestAccessLogIsBuffered: an access line waits in the buffer (no write
// per request), goes out within the flush interval with no more traffic,
// carries no caller, and stopping flushes every line still held.
func TestAccessLogIsBuffered(t *testing.T) {
	var out syncBuffer
	l, stop := newAccessLogger(config.Log{Level: "info", Format: "json"}, zapcore.AddSync(&out), zap.NewAtomicLevelAt(zap.InfoLevel), false)
	l.Info("request", zap.String("uri", "/first"))
	if s := out.String(); s != "" {
		t.Fatalf("written at once: %q", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(accessLines(t, out.String())) == 0 {
		if time.Now().After(deadline) {
			stop()
			t.Fatal("the line was not flushed within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first := accessLines(t, out.String())[0]
	if _, ok := first["caller"]; ok || first["logger"] != "proxy" || first["uri"] != "/first" {
		t.Fatalf("line %v: want logger proxy, the uri, no caller", first)
	}
	for i := range 100 {
		l.Info("request", zap.Int("n", i))
	}
	stop()
	if n := len(accessLines(t, out.String())); n != 101 {
		t.Fatalf("%d lines after stop, want 101", n)
	}
}

// TestSIGTERMFlushesAccessLog: the real process, stopped right after its
// last request, has written the access line of every request it served.
func TestSIGTERMFlushesAccessLog(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, proxyURL, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "level = \"warn\"\naccess_log = false", "level = \"info\"\naccess_log = true", 1)
	if text == string(b) {
		t.Fatal("the test config's [log] changed: this test no longer turns the access log on")
	}
	cfgPath = writeConfig(t, dir, text)
	p := startServing(t, cfgPath, ctlURL)
	const n = 50
	for i := range n {
		resp, err := http.Post(fmt.Sprintf("%s/n%d", proxyURL, i), "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr.String())
	}
	seen := map[string]bool{}
	for _, l := range accessLines(t, p.stderr.String()) {
		seen[fmt.Sprint(l["uri"])] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("/n%d", i)] {
			t.Fatalf("no access line for /n%d among %d lines", i, len(seen))
		}
	}
}
