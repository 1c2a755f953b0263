package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/ctl"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func switchctl(t *testing.T, ctlURL string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := func(k string) string {
		switch k {
		case "SWITCHD_ADDR":
			return ctlURL
		case "SWITCHD_ACTOR":
			return "ci-bot"
		}
		return ""
	}
	code := ctl.Run(ctx, args, env, &out, &errb)
	return code, out.String(), errb.String()
}

// TestSwitchctlAgainstDaemon drives the real API with the real client:
// status, flip, set, a refused flip (exit 3), rollback, wait drained, and
// flip --wait-stable ending in a revert (exit 4).
func TestSwitchctlAgainstDaemon(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "2s", 5, "5s"))
	waitHealthy(t, in.control, "green")

	code, out, errs := switchctl(t, in.control, "status")
	if code != 0 || !strings.Contains(out, "app") || !strings.Contains(out, "blue") {
		t.Fatalf("status: %d %q %q", code, out, errs)
	}
	code, out, errs = switchctl(t, in.control, "flip", "--reason", "e2e", "--expect", "blue")
	if code != 0 || !strings.Contains(out, "green") {
		t.Fatalf("flip: %d %q %q", code, out, errs)
	}
	code, _, errs = switchctl(t, in.control, "flip", "--expect", "blue")
	if code != 3 || !strings.Contains(errs, "expected blue active") {
		t.Fatalf("flip with a stale expect: %d %q", code, errs)
	}
	code, out, _ = switchctl(t, in.control, "--json", "status", "app")
	var svc control.Service
	if err := json.Unmarshal([]byte(out), &svc); code != 0 || err != nil || svc.Active != "green" || svc.Detail != "e2e" || svc.ChangedBy != "ci-bot" {
		t.Fatalf("--json status: %d %v %+v", code, err, svc)
	}
	code, _, errs = switchctl(t, in.control, "wait", "drained", "blue", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("wait drained: %d %q", code, errs)
	}
	code, _, errs = switchctl(t, in.control, "rollback")
	if code != 0 {
		t.Fatalf("rollback: %d %q", code, errs)
	}

	// Green's pool dies: the gate refuses, switchctl exits 3 and says why.
	green.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
		if svc.Pools["green"].Healthy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("green never down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, _, errs = switchctl(t, in.control, "set", "app", "green")
	if code != 3 || !strings.Contains(errs, "0 of 1 upstreams healthy") {
		t.Fatalf("set to a dead colour: %d %q", code, errs)
	}
	code, _, errs = switchctl(t, in.control, "wait", "app", "healthy", "green", "--timeout", "300ms")
	if code != 5 {
		t.Fatalf("wait healthy on a dead colour: %d %q", code, errs)
	}
}

// TestSwitchctlWaitStableReverted: flip --wait-stable exits 4 when the guard
// reverts during the watch.
func TestSwitchctlWaitStableReverted(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), newFailingBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue.Server), addrOf(green.Server))+
		fmt.Sprintf(guardSection, "2s", 5, "10s"))
	waitHealthy(t, in.control, "green")
	green.fail.Store(true)
	l := startLoad(in.proxy+"/", 50)
	defer l.end()
	code, _, errs := switchctl(t, in.control, "flip", "--wait-stable", "--timeout", "10s")
	if code != 4 || !strings.Contains(errs, "revert") {
		t.Fatalf("flip --wait-stable: %d %q", code, errs)
	}
}

// TestSwitchctlLogLevel: switchctl log-level shows and sets the level of the
// daemon's logger.
func TestSwitchctlLogLevel(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	cfg, err := config.Parse([]byte(fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green))), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	level := zap.NewAtomicLevelAt(zap.WarnLevel)
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), level))
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	cl, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Run(ctx, Options{Config: cfg, Logger: logger, Level: &level, ProxyListener: pl, ControlListener: cl,
			Ready: func(Addrs) { close(ready) }})
	}()
	defer func() { cancel(); <-done }()
	<-ready
	ctlURL := "http://" + cl.Addr().String()
	if code, out, errs := switchctl(t, ctlURL, "log-level"); code != 0 || out != "log level: warn\n" {
		t.Fatalf("log-level: %d %q %q", code, out, errs)
	}
	if code, out, errs := switchctl(t, ctlURL, "log-level", "debug"); code != 0 || out != "log level: debug\n" || level.Level() != zap.DebugLevel {
		t.Fatalf("log-level debug: %d %q %q (level %v)", code, out, errs, level.Level())
	}
	// A usage error, like every other one: exit 2, found before asking.
	if code, _, errs := switchctl(t, ctlURL, "log-level", "loud"); code != 2 || !strings.Contains(errs, "bad level") {
		t.Fatalf("log-level loud: %d %q", code, errs)
	}
}

// TestControlOnUnixSocket: control.listen = "unix:PATH" works end to end
// (switchctl --addr unix:PATH), a stale socket file left by a crash is
// replaced, the socket is 0660, and a second switchd on it is refused.
func TestControlOnUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "swd") // short: unix socket paths are limited to ~108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "control.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, nothing listens: what a crash leaves

	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, dir, addrOf(blue), addrOf(green))
	text = strings.Replace(text, "[control]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[control]\nlisten = %q", "unix:"+sock), 1)
	cfg, err := config.Parse([]byte(text), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Run(ctx, Options{Config: cfg, Logger: zap.NewNop(), ProxyListener: pl, Ready: func(Addrs) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("did not start: %v", err)
	}
	defer func() { cancel(); <-done }()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket: %v mode %v", err, fi.Mode())
	}
	if code, out, errs := switchctl(t, "unix:"+sock, "status"); code != 0 || !strings.Contains(out, "app") {
		t.Fatalf("switchctl over the unix socket: %d %q %q", code, out, errs)
	}
	if _, err := listen("unix:" + sock); err == nil || !strings.Contains(err.Error(), "another process is serving it") {
		t.Fatalf("a second listener on a live socket: %v", err)
	}
}

// TestSwitchctlAtProxyPort: switchctl pointed at the proxy port instead of
// the control API says so, whether the proxy routes the request to an
// upstream (a default service) or refuses the Host.
func TestSwitchctlAtProxyPort(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)))
	code, _, errs := switchctl(t, in.proxy, "status")
	if code != 1 || !strings.Contains(errs, "is "+in.proxy+" the proxy port?") {
		t.Fatalf("status at the proxy (default service): exit %d %q", code, errs)
	}
	in2 := startRun(t, withAppHost(fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)), "app.test"))
	code, _, errs = switchctl(t, in2.proxy, "flip")
	if code != 1 || !strings.Contains(errs, "is "+in2.proxy+" the proxy port?") {
		t.Fatalf("flip at the proxy (no service for the Host): exit %d %q", code, errs)
	}
}
