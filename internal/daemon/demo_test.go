package daemon

import (
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoAddresses: -http and -control move the demo off its default
// ports; the flip works there.
func TestDemoAddresses(t *testing.T) {
	proxy, ctl := freePort(t), freePort(t)
	p := startProc(t, "-demo", "-http", proxy, "-control", ctl)
	waitUp(t, "http://"+ctl+"/healthz", p)
	waitServiceHealthy(t, "http://"+ctl, "demo", "green")
	body := func() string {
		resp, err := http.Get("http://" + proxy + "/")
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
	if code := callAPI(t, "POST", "http://"+ctl+"/v1/services/demo/flip", nil, nil); code != 200 {
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

// TestDemoPortBusy: a taken port is named, with the flag that moves it,
// and the exit code is 1.
func TestDemoPortBusy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-demo", "-http", taken, "-control", freePort(t)}, "-http"},
		{[]string{"-demo", "-http", freePort(t), "-control", taken}, "-control"},
	} {
		p := startProc(t, tc.args...)
		if code := p.wait(t, 10*time.Second); code != 1 {
			t.Errorf("%q: exit %d, want 1", tc.args, code)
		}
		out := p.stderr.String()
		if !strings.Contains(out, taken+" is already in use") || !strings.Contains(out, "with "+tc.flag) {
			t.Errorf("%q: output does not name %s and %s:\n%s", tc.args, taken, tc.flag, out)
		}
	}
	p := startProc(t, "-http", freePort(t))
	if code := p.wait(t, 10*time.Second); code != 2 {
		t.Errorf("-http without -demo: exit %d, want 2", code)
	}
}
