package ctl

import (
	"strings"
	"testing"

	"github.com/switchd/switchd/control/api"
)

// TestStatusShowsDaemonState: switchctl status says when a service's state
// is held in memory only, when the last config reload failed (and since
// when the running config is loaded), and when state.json was missing at
// start; before, none of it was visible.
func TestStatusShowsDaemonState(t *testing.T) {
	list := listOf("app", "api")
	no, yes := false, true
	list.Services[0].Persisted = &no
	list.Services[1].Persisted = &yes
	good := ts("2026-12-02T10:00:00Z")
	list.Switchd = &api.Status{
		Config: api.ConfigStatus{Path: "/etc/switchd/config.toml", LastReload: api.ReloadStatus{
			OK: false, At: ts("2026-12-02T11:00:00Z"), Source: "file",
			Error: "config.toml:3: unknown key \"lissen\"\n\x1b[31m", LastSuccess: &good}},
		State: api.StateStatus{Path: "/var/lib/switchd/state.json", Persisted: false, MissingAtStart: true},
	}
	f := newFake(t).on("GET /v1/services", jsonReply(200, list))
	res := runCtl(t, f, "status")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	want := statusTable + strings.Replace(statusTable[strings.Index(statusTable, "\n")+1:], "app ", "api ", 1) +
		"app: NOT PERSISTED: state.json could not be written; switchd retries every second (a restart now would go back to what the file says)\n" +
		"config: last reload FAILED 2026-12-02 11:00:00Z (file): config.toml:3: unknown key \"lissen\" \\x1b[31m; running the config loaded 2026-12-02 10:00:00Z\n" +
		"state: /var/lib/switchd/state.json did not exist at start-up: services started on their initial colours\n"
	if res.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, want)
	}

	list.Switchd.Config.LastReload = api.ReloadStatus{OK: true, At: good, Source: "api", LastSuccess: &good}
	list.Switchd.State.MissingAtStart = false
	list.Services[0].Persisted = &yes
	f = newFake(t).on("GET /v1/services", jsonReply(200, list))
	res = runCtl(t, f, "status")
	if !strings.HasSuffix(res.stdout, "\nconfig: loaded 2026-12-02 10:00:00Z (api)\n") || strings.Contains(res.stdout, "PERSISTED") {
		t.Errorf("stdout:\n%s", res.stdout)
	}
}
