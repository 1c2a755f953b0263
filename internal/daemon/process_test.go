package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// procConfig is baseConfig with fixed loopback ports for the real binary.
func procConfig(t *testing.T, dir, blue, green string) (path, proxyURL, controlURL string) {
	t.Helper()
	pa, ca := freePort(t), freePort(t)
	text := fmt.Sprintf(baseConfig, filepath.Join(dir, "state"), blue, green)
	text = strings.Replace(text, `http_listen = "127.0.0.1:0"`, fmt.Sprintf("http_listen = %q", pa), 1)
	text = strings.Replace(text, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", ca), 1)
	return writeConfig(t, dir, text), "http://" + pa, "http://" + ca
}

// TestRestartKeepsState: a flip survives a restart of the real process, and
// SIGTERM exits 0.
func TestRestartKeepsState(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, proxyURL, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))

	p := startServing(t, cfgPath, ctlURL)
	waitHealthy(t, ctlURL, "green")
	var res control.ChangeResult
	if code := callAPI(t, "POST", ctlURL+"/v1/services/app/flip", map[string]any{"reason": "deploy 4f2a"}, &res); code != 200 {
		t.Fatalf("flip: %d", code)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM; output:\n%s", code, p.stderr.String())
	}

	p2 := startServing(t, cfgPath, ctlURL)
	var svc control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Previous != "blue" || svc.Generation != 1 || svc.Reason != "manual" || svc.Detail != "deploy 4f2a" {
		t.Fatalf("after restart: %+v", svc)
	}
	resp, err := http.Get(proxyURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "green" {
		t.Fatalf("after restart traffic goes to %q", b)
	}
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	p2.wait(t, 10*time.Second)
}

// TestCorruptStateStopsStart: an unreadable state.json stops start-up with a
// clear error, exit 1, and nothing listens.
func TestCorruptStateStopsStart(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, proxyURL, _ := procConfig(t, dir, addrOf(blue), addrOf(green))
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, "state", "state.json")
	corrupt := []byte(`{"version":1,"services":{"app":{"active":"gre`)
	if err := os.WriteFile(statePath, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "-config", cfgPath)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, p.stderr.String())
	}
	out := p.stderr.String()
	if !strings.Contains(out, "state: "+statePath+": invalid JSON") {
		t.Fatalf("error does not name the state file and the problem:\n%s", out)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(proxyURL, "http://"), 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the proxy port is open although start-up failed")
	}
	if b, _ := os.ReadFile(statePath); string(b) != string(corrupt) {
		t.Fatal("the corrupt state file was changed")
	}
}

// TestSIGTERMFinishesInflight: on SIGTERM switchd stops accepting new
// connections, lets the request in flight finish, then exits 0.
func TestSIGTERMFinishesInflight(t *testing.T) {
	entered := make(chan struct{}, 1)
	blue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			time.Sleep(700 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "blue")
	}))
	defer blue.Close()
	green := colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, proxyURL, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	p := startServing(t, cfgPath, ctlURL)

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(proxyURL + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-entered
	sent := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(150 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(proxyURL, "http://"), 200*time.Millisecond); err == nil {
		c.Close()
		t.Error("new connections are still accepted after SIGTERM")
	}
	if r := <-got; r != "200 blue" {
		t.Fatalf("in-flight request: %s", r)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, p.stderr.String())
	}
	if time.Since(sent) > 5*time.Second {
		t.Fatalf("exit took %v, longer than the grace", time.Since(sent))
	}
}

func TestVersionCommand(t *testing.T) {
	p := startProc(t, "version")
	if code := p.wait(t, 10*time.Second); code != 0 || !strings.HasPrefix(p.stderr.String(), "switchd ") {
		t.Fatalf("version: exit %d %q", code, p.stderr.String())
	}
	p = startProc(t, "-no-such-flag")
	if code := p.wait(t, 10*time.Second); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, fmt.Sprintf(baseConfig, dir, "127.0.0.1:1", "127.0.0.1:2"))
	p := startProc(t, "validate", "-config", good)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("valid config: exit %d:\n%s", code, p.stderr.String())
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[server]\nhttp_listen = \":80\"\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startProc(t, "validate", "-config", bad)
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("invalid config: exit %d", code)
	}
	if out := p.stderr.String(); !strings.Contains(out, "bad.toml:3") || !strings.Contains(out, "bogus") {
		t.Fatalf("error does not name line and key:\n%s", out)
	}
	p = startProc(t, "validate", "-config", filepath.Join(dir, "missing.toml"))
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("missing config: exit %d", code)
	}
}

// TestDemo runs `switchd -demo` as the README tells a newcomer to, on its
// fixed ports; skipped when they are taken.
func TestDemo(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8080", "127.0.0.1:9180"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Skipf("%s is taken: %v", a, err)
		}
		ln.Close()
	}
	p := startProc(t, "-demo")
	waitUp(t, "http://127.0.0.1:9180/healthz", p)
	waitServiceHealthy(t, "http://127.0.0.1:9180", "demo", "green")
	body := func() string {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:8080/", nil)
		req.Header.Set("Accept", "*/*")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	if got := body(); got != "blue" {
		t.Fatalf("demo starts on %q", got)
	}
	if code := callAPI(t, "POST", "http://127.0.0.1:9180/v1/services/demo/flip", nil, nil); code != 200 {
		t.Fatalf("flip: %d", code)
	}
	if got := body(); got != "green" {
		t.Fatalf("after flip: %q", got)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("demo exit %d", code)
	}
}

// TestValidateReadsState: the active colour is state.json's. After a flip
// to green, a config whose blue pool is empty is valid (initial still says
// blue); one whose green pool is empty is not, and start-up refuses it with
// the same line.
func TestValidateReadsState(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st := `{"version":1,"services":{"app":{"active":"green","previous":"blue","generation":1,"changed_at":"2026-11-26T10:00:00Z","changed_by":"t","reason":"manual"}}}`
	if err := os.WriteFile(filepath.Join(stateDir, "state.json"), []byte(st), 0o600); err != nil {
		t.Fatal(err)
	}
	blueEmpty := writeConfig(t, dir, fmt.Sprintf(baseConfig, stateDir, "127.0.0.1:1", "127.0.0.1:2"))
	text, _ := os.ReadFile(blueEmpty)
	if err := os.WriteFile(blueEmpty, []byte(strings.Replace(string(text), `upstreams = ["127.0.0.1:1"]`, "upstreams = []", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "validate", "-config", blueEmpty)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("blue emptied after a flip to green: exit %d\n%s", code, p.stderr.String())
	}
	greenEmpty := filepath.Join(dir, "green-empty.toml")
	if err := os.WriteFile(greenEmpty, []byte(strings.Replace(string(text), `upstreams = ["127.0.0.1:2"]`, "upstreams = []", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "green-empty.toml:18: service \"app\": green.upstreams: the active colour green (from state.json) has no upstreams"
	for _, args := range [][]string{{"validate", "-config", greenEmpty}, {"-config", greenEmpty}} {
		p = startProc(t, args...)
		if code := p.wait(t, 10*time.Second); code != 1 || !strings.Contains(p.stderr.String(), want) {
			t.Fatalf("%v: exit %d, want 1 and %q:\n%s", args, code, want, p.stderr.String())
		}
	}
}
