package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// quiet fails the test if a reload event arrives within d.
func (s *eventStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e := <-s.ch:
			if e.Type == "reload" {
				t.Fatalf("unexpected reload: %+v", e)
			}
		case <-timeout:
			return
		}
	}
}

// TestWatchIgnoresBusyNeighbour: another file in the config's folder,
// written every 50 ms, neither reloads switchd nor keeps a change of the
// config file from being reloaded. Before, every event in the folder
// restarted the 150 ms debounce (a change was never picked up while the
// neighbour was busy), and the first one reloaded the unchanged config.
func TestWatchIgnoresBusyNeighbour(t *testing.T) {
	blue, green, green2 := colourBackend(t, "blue"), colourBackend(t, "green"), colourBackend(t, "green2")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	startServing(t, cfgPath, ctlURL)
	events := subscribe(t, ctlURL)

	neighbour := filepath.Join(dir, "deploy.log")
	if err := os.WriteFile(neighbour, []byte("start\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	events.quiet(t, time.Second)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = os.WriteFile(neighbour, fmt.Appendf(nil, "line %d\n", i), 0o600)
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	data, _ := os.ReadFile(cfgPath)
	text := strings.Replace(string(data), fmt.Sprintf("upstreams = [%q]", addrOf(green)),
		fmt.Sprintf("upstreams = [%q, %q]", addrOf(green), addrOf(green2)), 1)
	replaceFile(t, cfgPath, text)
	if e := events.next(t, "reload", 5*time.Second); e.OK == nil || !*e.OK || e.Detail != "from file" {
		t.Fatalf("reload event %+v", e)
	}
	var svc control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if n := len(svc.Pools["green"].Upstreams); n != 2 {
		t.Fatalf("green has %d upstreams after the reload, want 2", n)
	}
	events.quiet(t, time.Second) // one change, one reload
}

// TestReloadFileRestored: a bad file fails the reload; putting the running
// bytes back is a successful reload (event, metric, /v1/status), as a fixed
// file would be. Before, the watch skipped the restored file because its
// bytes equalled the running config's, and the failure stayed reported
// until a SIGHUP.
func TestReloadFileRestored(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	original, _ := os.ReadFile(cfgPath)
	startServing(t, cfgPath, ctlURL)
	events := subscribe(t, ctlURL)

	var st control.Status
	callAPI(t, "GET", ctlURL+"/v1/status", nil, &st)
	if r := st.Config.LastReload; !r.OK || r.Source != "start" || r.LastSuccess == nil || st.Config.Path != cfgPath {
		t.Fatalf("status at start: %+v", st.Config)
	}

	// A good edit first, so that the running bytes are the file's however
	// switchd learnt them at start.
	edited := string(original) + "\n# edited\n"
	replaceFile(t, cfgPath, edited)
	if e := events.next(t, "reload", 5*time.Second); e.OK == nil || !*e.OK {
		t.Fatalf("reload of a good edit: %+v", e)
	}

	replaceFile(t, cfgPath, edited+"\nbogus_key = 1\n")
	if e := events.next(t, "reload", 5*time.Second); e.OK == nil || *e.OK {
		t.Fatalf("reload of a bad file: %+v", e)
	}
	if v := metric(t, ctlURL, "switchd_config_last_reload_successful"); v != "0" {
		t.Fatalf("reload metric after a bad file: %q", v)
	}
	var list control.ServiceList
	callAPI(t, "GET", ctlURL+"/v1/services", nil, &list)
	if list.Switchd == nil {
		t.Fatal("GET /v1/services has no switchd status")
	}
	if r := list.Switchd.Config.LastReload; r.OK || r.Source != "file" || !strings.Contains(r.Error, "bogus_key") || r.LastSuccess == nil || !r.LastSuccess.Before(r.At) {
		t.Fatalf("status after a bad file: %+v", r)
	}

	replaceFile(t, cfgPath, edited)
	if e := events.next(t, "reload", 5*time.Second); e.OK == nil || !*e.OK {
		t.Fatalf("reload of the restored file: %+v", e)
	}
	if v := metric(t, ctlURL, "switchd_config_last_reload_successful"); v != "1" {
		t.Fatalf("reload metric after restoring the file: %q", v)
	}
	callAPI(t, "GET", ctlURL+"/v1/status", nil, &st)
	if r := st.Config.LastReload; !r.OK || r.Error != "" || r.Source != "file" {
		t.Fatalf("status after restoring the file: %+v", r)
	}
}

// TestWatchReloadsBusyConfigFile: a config file rewritten every 50 ms (a
// generator stuck in a loop, a slow copy) is still reloaded, at most
// settleMax after its first change, instead of waiting for a quiet 150 ms
// that never comes.
func TestWatchReloadsBusyConfigFile(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	original, _ := os.ReadFile(cfgPath)
	startServing(t, cfgPath, ctlURL)
	events := subscribe(t, ctlURL)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				tmp := cfgPath + ".tmp"
				if os.WriteFile(tmp, fmt.Appendf(original, "\n# write %d\n", i), 0o600) == nil {
					_ = os.Rename(tmp, cfgPath)
				}
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	if e := events.next(t, "reload", 5*time.Second); e.OK == nil || !*e.OK {
		t.Fatalf("reload event %+v", e)
	}
}
