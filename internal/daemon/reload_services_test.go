package daemon

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// TestReloadedServiceIsGuarded: a service added by a reload gets failover
// like one configured at start; and a reload keeps a log level set live.
func TestReloadedServiceIsGuarded(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	blue2, green2 := colourBackend(t, "blue2"), colourBackend(t, "green2")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	p := startServing(t, cfgPath, ctlURL)
	if code := callAPI(t, "PUT", ctlURL+"/v1/log/level", map[string]string{"level": "debug"}, nil); code != 200 {
		t.Fatalf("PUT log level: %d", code)
	}
	data, _ := os.ReadFile(cfgPath)
	text := withAppHost(string(data), "app.test") +
		extraService("app2", addrOf(blue2), addrOf(green2),
			"  [service.health]\n  interval = \"200ms\"\n  timeout = \"200ms\"\n  rise = 1\n  fall = 1\n")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := callAPI(t, "POST", ctlURL+"/v1/reload", nil, nil); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	var lvl control.LogLevel
	if callAPI(t, "GET", ctlURL+"/v1/log/level", nil, &lvl); lvl.Level != "debug" {
		t.Fatalf("a reload reset the log level to %q", lvl.Level)
	}
	waitServiceHealthy(t, ctlURL, "app2", "green")
	blue2.Close()
	eventually(t, "app2 fails over", 5*time.Second, func() bool {
		var svc control.Service
		callAPI(t, "GET", ctlURL+"/v1/services/app2", nil, &svc)
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
	if code := callAPI(t, "POST", ctlURL+"/v1/reload", nil, nil); code != 200 {
		t.Fatalf("reload without app: %d", code)
	}
	// 2. app back, with blue (its initial) emptied: green is its colour.
	back := strings.Replace(string(data), fmt.Sprintf("upstreams = [%q]", addrOf(blue)), "upstreams = []", 1)
	back = withAppHost(back, "app.test") + otherSvc
	if err := os.WriteFile(cfgPath, []byte(back), 0o600); err != nil {
		t.Fatal(err)
	}
	var e control.ErrorBody
	if code := callAPI(t, "POST", ctlURL+"/v1/reload", nil, &e); code != 200 {
		t.Fatalf("reload bringing app back: %d %+v", code, e)
	}
	var svc control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Generation != 1 {
		t.Fatalf("app came back on %s gen %d", svc.Active, svc.Generation)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}
