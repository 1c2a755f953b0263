package daemon

import (
	"fmt"
	"io"
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

// TestOneFailedRequestDoesNotFailOver: a single 504 takes the upstream out
// of rotation (passive) but does not make it "known down": no failover
// moves the service; only failed probes do that.
func TestOneFailedRequestDoesNotFailOver(t *testing.T) {
	blue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "blue")
	}))
	defer blue.Close()
	green := colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green))
	text = strings.Replace(text, "[server]\n", "[server]\nupstream_response_timeout = \"150ms\"\n", 1)
	in := startRun(t, text)
	waitHealthy(t, in.control, "green")
	waitHealthy(t, in.control, "blue")
	resp, err := http.Get(in.proxy + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Fatalf("slow request: %d, want 504", resp.StatusCode)
	}
	time.Sleep(500 * time.Millisecond) // several guard ticks
	var svc control.Service
	api(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "blue" || svc.Generation != 0 {
		t.Fatalf("one timed-out request moved the service: %s gen %d reason %s", svc.Active, svc.Generation, svc.Reason)
	}
}

// TestRestartKeepsTheWatch: switchd restarted during the watch after a flip
// keeps watching until changed_at + watch; wait stable does not answer
// "stable" at once.
func TestRestartKeepsTheWatch(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)) + fmt.Sprintf(guardSection, "10s", 20, "10m")
	first := startRun(t, text)
	waitHealthy(t, first.control, "green")
	flip(t, first.control)
	first.stop()

	second := startRun(t, text)
	var svc control.Service
	api(t, "GET", second.control+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Guard == nil || svc.Guard.ArmedUntil == nil {
		t.Fatalf("after restart: active %s guard %+v", svc.Active, svc.Guard)
	}
	if want := svc.ChangedAt.Add(10 * time.Minute); svc.Guard.ArmedUntil.Sub(want).Abs() > time.Second {
		t.Fatalf("armed until %v, want changed_at + watch = %v", svc.Guard.ArmedUntil, want)
	}
	var e control.ErrorBody
	if code := api(t, "GET", second.control+"/v1/services/app/wait?until=stable&timeout=300ms", nil, &e); code != 408 {
		t.Fatalf("wait stable right after the restart: %d %+v", code, e)
	}
}

// TestRestartKeepsTheLatch: after the guard reverted, a restart keeps the
// triggers latched, even with watch = "always", which arms them at start-up:
// blue's errors do not send traffic back to green. Failover stays armed, as
// it would have without the restart: when blue dies and green is healthy,
// switchd fails over to green, naming the guard's revert.
func TestRestartKeepsTheLatch(t *testing.T) {
	blue, green := newFailingBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	st := `{"version":1,"services":{"app":{"active":"blue","previous":"green","generation":2,` +
		`"changed_at":"2026-11-26T10:00:00Z","changed_by":"guard","reason":"guard"}}}`
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(st), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startRun(t, fmt.Sprintf(baseConfig, dir, addrOf(blue.Server), addrOf(green))+
		fmt.Sprintf(guardSection, "10s", 5, "always"))
	waitHealthy(t, in.control, "green")
	blue.fail.Store(true)
	for range 20 {
		resp, err := http.Post(in.proxy+"/", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	time.Sleep(300 * time.Millisecond)
	var svc control.Service
	api(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "blue" || svc.Generation != 2 || svc.Guard == nil || !svc.Guard.Latched {
		t.Fatalf("after a restart the guard's latch was lost: %s gen %d reason %s guard %+v", svc.Active, svc.Generation, svc.Reason, svc.Guard)
	}
	blue.Close() // blue dies; green is healthy
	svc = waitActive(t, in.control, "green", 5*time.Second)
	if svc.Reason != "failover" || svc.Generation != 3 || !strings.Contains(svc.Detail, "guard revert green → blue at 2026-11-26T10:00:00Z") {
		t.Fatalf("green active with reason %q gen %d detail %q; want a failover naming the revert", svc.Reason, svc.Generation, svc.Detail)
	}
}

// TestReloadedServiceIsGuarded: a service added by a reload gets failover
// like one configured at start; and a reload keeps a log level set live.
func TestReloadedServiceIsGuarded(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	blue2, green2 := colourBackend(t, "blue2"), colourBackend(t, "green2")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	p := startServing(t, cfgPath, ctlURL)
	if code := api(t, "PUT", ctlURL+"/v1/log/level", map[string]string{"level": "debug"}, nil); code != 200 {
		t.Fatalf("PUT log level: %d", code)
	}
	data, _ := os.ReadFile(cfgPath)
	text := withAppHost(string(data), "app.test") +
		extraService("app2", addrOf(blue2), addrOf(green2),
			"  [service.health]\n  interval = \"200ms\"\n  timeout = \"200ms\"\n  rise = 1\n  fall = 1\n")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := api(t, "POST", ctlURL+"/v1/reload", nil, nil); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	var lvl control.LogLevel
	if api(t, "GET", ctlURL+"/v1/log/level", nil, &lvl); lvl.Level != "debug" {
		t.Fatalf("a reload reset the log level to %q", lvl.Level)
	}
	waitServiceHealthy(t, ctlURL, "app2", "green")
	blue2.Close()
	eventually(t, "app2 fails over", 5*time.Second, func() bool {
		var svc control.Service
		api(t, "GET", ctlURL+"/v1/services/app2", nil, &svc)
		return svc.Active == "green" && svc.Reason == "failover"
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}

// TestReloadBringsAServiceBackOnItsColour: a service removed by one reload
// and added back by another keeps its state.json colour; emptying the
// other colour is then fine.
func TestReloadBringsAServiceBackOnItsColour(t *testing.T) {
	blue, green, other := colourBackend(t, "blue"), colourBackend(t, "green"), colourBackend(t, "other")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	data, _ := os.ReadFile(cfgPath)
	p := startServing(t, cfgPath, ctlURL)
	waitHealthy(t, ctlURL, "green")
	flip(t, ctlURL)
	otherSvc := extraService("other", addrOf(other), "", "")
	// 1. app removed (only "other" left).
	head := string(data)[:strings.Index(string(data), "[[service]]")]
	if err := os.WriteFile(cfgPath, []byte(head+otherSvc), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := api(t, "POST", ctlURL+"/v1/reload", nil, nil); code != 200 {
		t.Fatalf("reload without app: %d", code)
	}
	// 2. app back, with blue (its initial) emptied: green is its colour.
	back := strings.Replace(string(data), fmt.Sprintf("upstreams = [%q]", addrOf(blue)), "upstreams = []", 1)
	back = withAppHost(back, "app.test") + otherSvc
	if err := os.WriteFile(cfgPath, []byte(back), 0o600); err != nil {
		t.Fatal(err)
	}
	var e control.ErrorBody
	if code := api(t, "POST", ctlURL+"/v1/reload", nil, &e); code != 200 {
		t.Fatalf("reload bringing app back: %d %+v", code, e)
	}
	var svc control.Service
	api(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Generation != 1 {
		t.Fatalf("app came back on %s gen %d", svc.Active, svc.Generation)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}
