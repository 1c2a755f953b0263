package daemon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/testkit"
)

// metric returns the value of one series line from /metrics ("" if absent).
func metric(t *testing.T, ctl, series string) string {
	t.Helper()
	resp, err := http.Get(ctl + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replaceFile writes path the way editors do: a new file renamed over it.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadValidInvalidValid drives the real binary through a good reload
// (SIGHUP), a bad file (picked up by the file watch: nothing changes, the
// failure is reported), and a good one again (POST /v1/reload), checking
// that the active colour and health state survive.
func TestReloadValidInvalidValid(t *testing.T) {
	blue, green, green2 := colourBackend(t, "blue"), colourBackend(t, "green"), colourBackend(t, "green2")
	dir := t.TempDir()
	cfgPath, proxyURL, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	original, _ := os.ReadFile(cfgPath)

	p := startServing(t, cfgPath, ctlURL)
	waitHealthy(t, ctlURL, "green")
	events := subscribe(t, ctlURL)
	flip(t, ctlURL)
	var before control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &before)

	// 1. Valid: a second green upstream and a new service, by SIGHUP.
	text := strings.Replace(string(original), fmt.Sprintf("upstreams = [%q]", addrOf(green)),
		fmt.Sprintf("upstreams = [%q, %q]", addrOf(green), addrOf(green2)), 1)
	text = withAppHost(text, "app.test")
	text += extraService("api", addrOf(blue), "", "")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	if e := events.next(t, "reload", 5*time.Second); e.OK == nil || !*e.OK {
		t.Fatalf("reload event %+v", e)
	}
	var list control.ServiceList
	callAPI(t, "GET", ctlURL+"/v1/services", nil, &list)
	if len(list.Services) != 2 {
		t.Fatalf("after reload: %d services", len(list.Services))
	}
	var after control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &after)
	if after.Active != "green" || after.Generation != before.Generation {
		t.Fatalf("reload moved traffic: %s gen %d → %s gen %d", before.Active, before.Generation, after.Active, after.Generation)
	}
	kept := after.Pools["green"].Upstreams[0]
	if kept.Since == nil || before.Pools["green"].Upstreams[0].Since == nil || !kept.Since.Equal(*before.Pools["green"].Upstreams[0].Since) {
		t.Fatalf("a kept upstream lost its health state: %+v", kept)
	}
	eventually(t, "new upstream probed", 5*time.Second, func() bool {
		callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &after)
		return len(after.Pools["green"].Upstreams) == 2 && after.Pools["green"].Upstreams[1].State == "up"
	})
	if v := metric(t, ctlURL, "switchd_config_last_reload_successful"); v != "1" {
		t.Fatalf("reload metric %q", v)
	}
	req, _ := http.NewRequest("GET", proxyURL+"/", nil)
	req.Host = "api.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "blue" {
		t.Fatalf("new service answers %q", b)
	}

	// 2. Invalid, written like an editor does: the file watch reloads,
	// nothing changes, the failure shows in the metric and an event.
	replaceFile(t, cfgPath, text+"\nbogus_key = 1\n")
	e := events.next(t, "reload", 5*time.Second)
	for e.OK != nil && *e.OK { // the SIGHUP and the watch may both have reloaded step 1
		e = events.next(t, "reload", 5*time.Second)
	}
	if e.OK == nil || *e.OK || !strings.Contains(e.Detail, "bogus_key") {
		t.Fatalf("bad reload event %+v", e)
	}
	if v := metric(t, ctlURL, "switchd_config_last_reload_successful"); v != "0" {
		t.Fatalf("reload metric after a bad file: %q", v)
	}
	callAPI(t, "GET", ctlURL+"/v1/services", nil, &list)
	if len(list.Services) != 2 {
		t.Fatalf("a bad file changed the running config: %d services", len(list.Services))
	}
	var eb control.ErrorBody
	if code := callAPI(t, "POST", ctlURL+"/v1/reload", nil, &eb); code != 400 || !strings.Contains(eb.Error.Message, "bogus_key") {
		t.Fatalf("POST /v1/reload with a bad file: %d %+v", code, eb)
	}

	// 3. Valid again, through the API.
	if err := os.WriteFile(cfgPath, original, 0o600); err != nil {
		t.Fatal(err)
	}
	if code := callAPI(t, "POST", ctlURL+"/v1/reload", nil, nil); code != 200 {
		t.Fatalf("POST /v1/reload: %d", code)
	}
	if v := metric(t, ctlURL, "switchd_config_last_reload_successful"); v != "1" {
		t.Fatalf("reload metric after recovery: %q", v)
	}
	callAPI(t, "GET", ctlURL+"/v1/services", nil, &list)
	if len(list.Services) != 1 || list.Services[0].Active != "green" {
		t.Fatalf("after the third reload: %+v", list.Services)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.stderr.String())
	}
}

// TestReloadSymlinkSwap: deploy tools swap a symlink to a new file; the
// watch notices.
func TestReloadSymlinkSwap(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	data, _ := os.ReadFile(cfgPath)
	v1, v2 := filepath.Join(dir, "v1.toml"), filepath.Join(dir, "v2.toml")
	if err := os.WriteFile(v1, data, 0o600); err != nil {
		t.Fatal(err)
	}
	extra := extraService("api", addrOf(blue), "", "")
	// The first service needs hosts once there are two services with none.
	two := withAppHost(string(data), "app.test") + extra
	if err := os.WriteFile(v2, []byte(two), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "current.toml")
	if err := os.Symlink(v1, link); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "-config", link)
	waitUp(t, ctlURL+"/healthz", p)
	events := subscribe(t, ctlURL)
	tmp := link + ".new"
	if err := os.Symlink(v2, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	if e := events.next(t, "reload", 5*time.Second); e.OK == nil || !*e.OK {
		t.Fatalf("reload after symlink swap: %+v", e)
	}
	var list control.ServiceList
	callAPI(t, "GET", ctlURL+"/v1/services", nil, &list)
	if len(list.Services) != 2 {
		t.Fatalf("after symlink swap: %d services", len(list.Services))
	}
}

// TestReloadRefusesEmptyActivePool: a reload that would leave the active
// colour without upstreams is refused whole.
func TestReloadRefusesEmptyActivePool(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	data, _ := os.ReadFile(cfgPath)
	startServing(t, cfgPath, ctlURL)
	waitHealthy(t, ctlURL, "green")
	flip(t, ctlURL) // green active
	// Green emptied and initial back to blue: config-valid, but green is active.
	text := strings.Replace(string(data), fmt.Sprintf("upstreams = [%q]", addrOf(green)), "upstreams = []", 1)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var eb control.ErrorBody
	if code := callAPI(t, "POST", ctlURL+"/v1/reload", nil, &eb); code != 400 || !strings.Contains(eb.Error.Message, "config.toml:18: service \"app\": green.upstreams: the active colour green (from state.json) has no upstreams") {
		t.Fatalf("reload emptying the active pool: %d %+v", code, eb)
	}
	var svc control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Pools["green"].Total != 1 {
		t.Fatalf("refused reload changed things: %+v", svc)
	}
}

// TestMetricsFromStart: every series of every service and colour exists at
// start-up, before any traffic or flip, and moves with flips and requests.
func TestMetricsFromStart(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)))
	for _, s := range []string{
		`switchd_requests_total{class="5xx",color="green",service="app"}`,
		`switchd_requests_total{class="error",color="blue",service="app"}`,
		`switchd_inflight_requests{color="green",service="app"}`,
		`switchd_active_color{color="blue",service="app"}`,
		`switchd_active_color{color="green",service="app"}`,
		`switchd_generation{service="app"}`,
		`switchd_flips_total{reason="guard",service="app"}`,
		`switchd_flips_total{reason="failover",service="app"}`,
		`switchd_guard_trips_total{service="app"}`,
		fmt.Sprintf(`switchd_upstream_healthy{color="green",service="app",upstream=%q}`, addrOf(green)),
		`switchd_health_checks_total{color="blue",result="fail",service="app"}`,
		`switchd_request_duration_seconds_count{color="blue",service="app"}`,
		`switchd_config_last_reload_successful`,
		`switchd_pool_panic{color="green",service="app"}`,
	} {
		if metric(t, in.control, s) == "" {
			t.Errorf("series missing at start-up: %s", s)
		}
	}
	if v := metric(t, in.control, `switchd_active_color{color="blue",service="app"}`); v != "1" {
		t.Errorf("active_color blue = %q", v)
	}
	waitHealthy(t, in.control, "green")
	callAPI(t, "POST", in.control+"/v1/services/app/flip", nil, nil)
	resp, err := http.Get(in.proxy + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for s, want := range map[string]string{
		`switchd_active_color{color="green",service="app"}`:                                             "1",
		`switchd_active_color{color="blue",service="app"}`:                                              "0",
		`switchd_generation{service="app"}`:                                                             "1",
		`switchd_flips_total{reason="manual",service="app"}`:                                            "1",
		`switchd_requests_total{class="2xx",color="green",service="app"}`:                               "1",
		fmt.Sprintf(`switchd_upstream_healthy{color="green",service="app",upstream=%q}`, addrOf(green)): "1",
	} {
		if got := metric(t, in.control, s); got != want {
			t.Errorf("%s = %q, want %s", s, got, want)
		}
	}
	if v := metric(t, in.control, "switchd_build_info{goversion=\""+runtimeVersion()+"\",version=\"test\"}"); v != "1" {
		t.Errorf("build_info = %q", v)
	}
}

// TestReloadUnderLoadLosesNothing: 16 kept-alive clients keep sending while
// the config is reloaded 30 times, alternating between one and two blue
// upstreams and a second service coming and going: not one request fails.
func TestReloadUnderLoadLosesNothing(t *testing.T) {
	blue, blue2, green := colourBackend(t, "blue"), colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, proxyURL, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	base, _ := os.ReadFile(cfgPath)
	two := strings.Replace(string(base), fmt.Sprintf("upstreams = [%q]", addrOf(blue)),
		fmt.Sprintf("upstreams = [%q, %q]", addrOf(blue), addrOf(blue2)), 1)
	two = withAppHost(two, "127.0.0.1") +
		extraService("extra", addrOf(green), "", "")
	p := startServing(t, cfgPath, ctlURL)
	waitHealthy(t, ctlURL, "blue")

	load := testkit.StartClients(16, proxyURL+"/", func() struct{} { return struct{}{} },
		func(_ struct{}, resp *http.Response, body []byte) error {
			if resp.StatusCode != 200 || string(body) != "blue" {
				return fmt.Errorf("%d %q", resp.StatusCode, body)
			}
			return nil
		})
	for i := 0; i < 30; i++ {
		text := string(base)
		if i%2 == 0 {
			text = two
		}
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		var e control.ErrorBody
		if code := callAPI(t, "POST", ctlURL+"/v1/reload", nil, &e); code != 200 {
			load.Stop()
			t.Fatalf("reload %d: %d %+v", i, code, e)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ok, bad, errs := load.Stop()
	t.Logf("%d requests during 30 reloads, %d failed", ok+bad, bad)
	if bad != 0 || ok < 30 {
		t.Fatalf("%d of %d requests failed across reloads: %v", bad, ok+bad, errs)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}
