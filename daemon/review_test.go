package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchd/control"
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
	if code := api(t, "POST", first.control+"/v1/services/app/flip", nil, nil); code != 200 {
		t.Fatalf("flip: %d", code)
	}
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
