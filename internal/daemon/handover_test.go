package daemon

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/coder/websocket"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/testkit"
)

// wsConfig is baseConfig with blue an echoing WebSocket server.
func wsConfig(t *testing.T) (cfgPath string) {
	t.Helper()
	echo := httptest.NewServer(testkit.EchoWebSocket(""))
	t.Cleanup(echo.Close)
	green := colourBackend(t, "green")
	dir := t.TempDir()
	return writeConfig(t, dir, fmt.Sprintf(baseConfig, filepath.Join(dir, "state"), addrOf(echo), addrOf(green)))
}

// openWebSocket dials /ws through the proxy and checks one round trip.
func openWebSocket(t *testing.T, proxyURL string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(proxyURL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	if err := wsRoundTrip(conn); err != nil {
		t.Fatal(err)
	}
	return conn
}

func wsRoundTrip(conn *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		return err
	}
	_, _, err := conn.Read(ctx)
	return err
}

// answeredAfter sends GETs through the proxy until one is answered and
// returns how long after since that was; a connection the kernel queued
// for a process that is not accepting yet simply waits.
func answeredAfter(t *testing.T, url string, since time.Time) time.Duration {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	for time.Since(since) < 30*time.Second {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			return time.Since(since) // any answer: blue is a WebSocket server, it says 426
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no request answered in 30s")
	return 0
}

// TestRestartDoesNotWaitForWebSockets: with socket activation, a restart
// (SIGTERM, exit, successor) while a WebSocket is open answers new requests
// at once: the old process closes the WebSocket instead of waiting out
// shutdown_grace (5s here) while nothing can accept.
func TestRestartDoesNotWaitForWebSockets(t *testing.T) {
	sd := newSystemd(t, wsConfig(t))
	p := sd.start()
	sd.waitServing(p.done)
	conn := openWebSocket(t, sd.proxyURL)

	sent := time.Now()
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	next := make(chan *sdProc, 1)
	go func() {
		<-p.done
		next <- sd.start()
	}()
	// By now the old process has stopped accepting (a request sent at once
	// could still be accepted before it saw the signal).
	time.Sleep(200 * time.Millisecond)
	took := answeredAfter(t, sd.proxyURL+"/", sent)
	t.Logf("a new request was answered %v after SIGTERM", took.Round(time.Millisecond))
	if took > 2500*time.Millisecond {
		t.Fatalf("a new request waited %v: the old process waited for the WebSocket", took)
	}
	<-p.done
	if err := wsRoundTrip(conn); err == nil {
		t.Fatal("the WebSocket still works after the old process exited")
	}
	sigterm(t, <-next, sd)
}

// TestUpgradeLetsWebSocketsDrain: an upgrade (POST /v1/upgrade, as
// switchctl upgrade sends it) while a WebSocket is open hands the sockets
// over at once: new requests are answered by the new process while the
// old one keeps the WebSocket working, and exits once it ends.
func TestUpgradeLetsWebSocketsDrain(t *testing.T) {
	sd := newSystemd(t, wsConfig(t))
	old := sd.start("-pid-file", sd.pidFile())
	sd.waitServing(old.done)
	conn := openWebSocket(t, sd.proxyURL)

	sent := time.Now()
	next, failure := sd.upgrade(old)
	if next == nil {
		t.Fatalf("upgrade: %s\n%s", failure, sd.output())
	}
	t.Logf("upgrade answered after %v", time.Since(sent).Round(time.Millisecond))
	handed := time.Now()
	took := answeredAfter(t, sd.proxyURL+"/", handed)
	t.Logf("a new request was answered %v after the upgrade answered", took.Round(time.Millisecond))
	if took > time.Second {
		t.Fatalf("a new request waited %v after the handover", took)
	}
	// The old process no longer accepts: every new connection is the new one's.
	for i := 0; i < 20; i++ {
		if pid := servingPID(t, sd); pid != next.pid {
			t.Fatalf("request %d answered by pid %d, not the new process %d", i, pid, next.pid)
		}
	}
	if err := wsRoundTrip(conn); err != nil {
		t.Fatalf("the WebSocket broke at the handover: %v", err)
	}
	select {
	case <-old.done:
		t.Fatal("the old process exited while its WebSocket was open")
	default:
	}
	conn.Close(websocket.StatusNormalClosure, "")
	exited(t, old, sd)
	sigterm(t, next, sd)
}

// TestUpgradeWithBadConfigKeepsServing: with a broken config on disk an
// upgrade fails, says so (500, switchctl exit 1), and the running process
// serves on and still accepts changes.
func TestUpgradeWithBadConfigKeepsServing(t *testing.T) {
	sd := newSystemd(t, wsConfig(t))
	p := sd.start("-pid-file", sd.pidFile())
	sd.waitServing(p.done)
	good, err := os.ReadFile(sd.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sd.cfgPath, append(good, "\nbogus = 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if next, failure := sd.upgrade(p); next != nil || !strings.Contains(failure, "500") || !strings.Contains(failure, "upgrade_failed") {
		t.Fatalf("upgrade with a bad config: %v %s", next, failure)
	}
	code, out, errs := switchctl(t, sd.controlURL, "upgrade")
	if code != 1 || !strings.Contains(errs, "keeps serving") {
		t.Fatalf("switchctl upgrade with a bad config: exit %d\n%s%s", code, out, errs)
	}
	if pid := servingPID(t, sd); pid != p.pid {
		t.Fatalf("answered by pid %d after the failed upgrade, not %d", pid, p.pid)
	}
	waitHealthy(t, sd.controlURL, "green")
	flip(t, sd.controlURL) // thawed: changes work again

	if err := os.WriteFile(sd.cfgPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = switchctl(t, sd.controlURL, "upgrade")
	if code != 0 {
		t.Fatalf("switchctl upgrade: exit %d\n%s%s\n%s", code, out, errs, sd.output())
	}
	next := sd.adopt(sd.readPID(), p)
	exited(t, p, sd)
	var svc control.Service
	callAPI(t, "GET", sd.controlURL+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Generation != 1 {
		t.Fatalf("the new process does not serve the state the old one left: %+v", svc)
	}
	sigterm(t, next, sd)
}

// servingPID asks the control API which process answers a new connection.
func servingPID(t *testing.T, sd *systemd) int {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(sd.controlURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h control.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.PID
}

// TestUpgradeOwnSocketsAndUnixControl: without socket activation switchd
// hands its own listeners on, the control API's unix socket included: the
// socket file outlives the old process, and a successor that failed, and
// goes with the last one. A
// change sent to the old process over a connection kept alive from before
// the handover is refused (503 upgrading) or finds the connection closed;
// it never changes the state the new process serves.
func TestUpgradeOwnSocketsAndUnixControl(t *testing.T) {
	dir, err := os.MkdirTemp("", "swd") // short: unix socket paths are limited to ~108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "control.sock")
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	proxyAddr := freePort(t)
	text := fmt.Sprintf(baseConfig, filepath.Join(dir, "state"), addrOf(blue), addrOf(green))
	text = strings.Replace(text, `http_listen = "127.0.0.1:0"`, fmt.Sprintf("http_listen = %q", proxyAddr), 1)
	text = strings.Replace(text, "[control]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[control]\nlisten = %q", "unix:"+sock), 1)
	sd := newSupervisor(t, writeConfig(t, dir, text))
	old := sd.start("-pid-file", sd.pidFile())
	if code, out, errs := switchctlRetry(t, "unix:"+sock, "wait", "healthy", "green"); code != 0 {
		t.Fatalf("switchd did not come up: %d %s %s\n%s", code, out, errs, sd.output())
	}

	// A successor that fails after it took over the sockets (the tokens
	// file is checked once listeners are open) must leave the socket file.
	good, _ := os.ReadFile(sd.cfgPath)
	broken := strings.Replace(string(good), "[control]\n", fmt.Sprintf("[control]\ntokens_file = %q\n", filepath.Join(dir, "missing")), 1)
	if err := os.WriteFile(sd.cfgPath, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := switchctl(t, "unix:"+sock, "upgrade"); code != 1 {
		t.Fatalf("upgrade to a process that cannot start: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := switchctl(t, "unix:"+sock, "status"); code != 0 {
		t.Fatalf("the control socket is gone after a failed upgrade: %s", errs)
	}
	if err := os.WriteFile(sd.cfgPath, good, 0o600); err != nil {
		t.Fatal(err)
	}

	kept, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptReader := bufio.NewReader(kept)
	if resp := rawRequest(t, kept, keptReader, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"); resp == nil || resp.StatusCode != 200 {
		t.Fatalf("kept-alive GET: %v", resp)
	}

	if code, out, errs := switchctl(t, "unix:"+sock, "upgrade"); code != 0 {
		t.Fatalf("switchctl upgrade: exit %d %s %s\n%s", code, out, errs, sd.output())
	}
	next := sd.adopt(sd.readPID(), old)
	if next.pid == old.pid {
		t.Fatal("the pid file still names the old process")
	}
	flipReq := "POST /v1/services/app/flip HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	if resp := rawRequest(t, kept, keptReader, flipReq); resp == nil {
		t.Log("the old process had closed the kept-alive connection")
	} else if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close {
		t.Fatalf("a flip sent to the old process after the handover: %d %v, want 503 and Connection: close, or a closed connection", resp.StatusCode, resp.Header)
	} else {
		t.Log("the old process refused a flip: 503")
	}
	exited(t, old, sd)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the old process took the control socket with it: %v", err)
	}
	var svc control.Service
	if code, out, errs := switchctl(t, "unix:"+sock, "--json", "status", "app"); code != 0 {
		t.Fatalf("status from the new process: %d %s", code, errs)
	} else if err := json.Unmarshal([]byte(out), &svc); err != nil || svc.Generation != 0 || svc.Active != "blue" {
		t.Fatalf("the new process serves %+v (%v); the old one must not have flipped", svc, err)
	}
	if resp, err := http.Get("http://" + proxyAddr + "/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	sigterm(t, next, sd)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("the control socket is left behind after the last process stopped: %v", err)
	}
}

// rawRequest writes one request on c and reads the answer; nil when the
// connection was closed instead.
func rawRequest(t *testing.T, c net.Conn, r *bufio.Reader, req string) *http.Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return nil
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// switchctlRetry runs switchctl until it exits 0, for up to 10s (while
// switchd starts, its unix socket may not exist yet).
func switchctlRetry(t *testing.T, addr string, args ...string) (int, string, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errs := switchctl(t, addr, args...)
		if code == 0 || time.Now().After(deadline) {
			return code, out, errs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUpgradeWaitsForFirstHealthRound: the new process takes over only
// once every upstream has been checked, so the first requests it serves
// go to upstreams known up (not, as "unknown" would mean, to all of them).
func TestUpgradeWaitsForFirstHealthRound(t *testing.T) {
	slow := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				time.Sleep(120 * time.Millisecond) // well within the check timeout
			}
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	blue, green := slow("blue"), slow("green")
	dir := t.TempDir()
	// Checks slow enough to be seen, with room under their timeout for a
	// loaded machine: a check that times out would read as down.
	text := fmt.Sprintf(baseConfig, filepath.Join(dir, "state"), addrOf(blue), addrOf(green))
	text = strings.Replace(text, "interval = \"200ms\"\n  timeout = \"200ms\"", "interval = \"1s\"\n  timeout = \"900ms\"", 1)
	sd := newSystemd(t, writeConfig(t, dir, text))
	old := sd.start("-pid-file", sd.pidFile())
	sd.waitServing(old.done)
	next, failure := sd.upgrade(old)
	if next == nil {
		t.Fatalf("upgrade: %s", failure)
	}
	var svc control.Service
	callAPI(t, "GET", sd.controlURL+"/v1/services/app", nil, &svc)
	for c, pool := range svc.Pools {
		for _, u := range pool.Upstreams {
			if u.State != "up" {
				t.Errorf("%s %s is %q when the new process took over", c, u.Address, u.State)
			}
		}
	}
	exited(t, old, sd)
	sigterm(t, next, sd)
}

// TestUpgradeFailsWhenSuccessorCannotSayReady: a successor that cannot
// finish its readiness (here its PID file's folder is gone) exits instead
// of serving next to the old process, whose upgrade then fails while it
// serves on and acts.
func TestUpgradeFailsWhenSuccessorCannotSayReady(t *testing.T) {
	sd := newSystemd(t, wsConfig(t))
	pidDir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(pidDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := sd.start("-pid-file", filepath.Join(pidDir, "switchd.pid"))
	sd.waitServing(p.done)
	if err := os.RemoveAll(pidDir); err != nil {
		t.Fatal(err)
	}
	code, out, errs := switchctl(t, sd.controlURL, "upgrade")
	if code != 1 || !strings.Contains(errs, "keeps serving") {
		t.Fatalf("upgrade: exit %d %s %s\n%s", code, out, errs, sd.output())
	}
	for i := 0; i < 10; i++ {
		if pid := servingPID(t, sd); pid != p.pid {
			t.Fatalf("answered by pid %d after the failed upgrade, not %d", pid, p.pid)
		}
	}
	waitHealthy(t, sd.controlURL, "green")
	flip(t, sd.controlURL)
	sigterm(t, p, sd)
}
