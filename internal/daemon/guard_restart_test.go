package daemon

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

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
	callAPI(t, "GET", second.control+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Guard == nil || svc.Guard.ArmedUntil == nil {
		t.Fatalf("after restart: active %s guard %+v", svc.Active, svc.Guard)
	}
	if want := svc.ChangedAt.Add(10 * time.Minute); svc.Guard.ArmedUntil.Sub(want).Abs() > time.Second {
		t.Fatalf("armed until %v, want changed_at + watch = %v", svc.Guard.ArmedUntil, want)
	}
	var e control.ErrorBody
	if code := callAPI(t, "GET", second.control+"/v1/services/app/wait?until=stable&timeout=300ms", nil, &e); code != 408 {
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
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "blue" || svc.Generation != 2 || svc.Guard == nil || !svc.Guard.Latched {
		t.Fatalf("after a restart the guard's latch was lost: %s gen %d reason %s guard %+v", svc.Active, svc.Generation, svc.Reason, svc.Guard)
	}
	blue.Close() // blue dies; green is healthy
	svc = waitActive(t, in.control, "green", 5*time.Second)
	if svc.Reason != "failover" || svc.Generation != 3 || !strings.Contains(svc.Detail, "guard revert green → blue at 2026-11-26T10:00:00Z") {
		t.Fatalf("green active with reason %q gen %d detail %q; want a failover naming the revert", svc.Reason, svc.Generation, svc.Detail)
	}
}
