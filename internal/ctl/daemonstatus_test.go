package ctl

import (
	"strings"
	"testing"
	"time"

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

// TestStatusShowsCertificates: a line per certificate of the https
// listener, a warning under 14 days left (not for the internal CA's
// short-lived ones, replaced automatically), and hosts still waiting for
// one.
func TestStatusShowsCertificates(t *testing.T) {
	now := ts("2026-12-02T10:00:00Z")
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	day := 24 * time.Hour
	st := &api.Status{Config: api.ConfigStatus{LastReload: api.ReloadStatus{OK: true, At: now, Source: "start"}}, TLS: []api.CertStatus{
		{Host: "app.example.com", Issuer: "R11", NotAfter: at(60 * day), Source: "acme"},
		{Host: "api.example.com", Issuer: "R11", NotAfter: at(5*day + time.Hour), Source: "acme"},
		{Host: "new.example.com", Source: "acme"},
		{Host: "*", Issuer: "Example CA", NotAfter: at(-time.Hour), Source: "files"},
		{Host: "app.test", Issuer: "switchd internal CA edge", NotAfter: at(6 * day), Source: "internal"},
		{Host: "soon.example.com", Issuer: "R11", NotAfter: at(3 * time.Hour), Source: "acme"},
	}}
	var b strings.Builder
	writeDaemonStatus(&b, st, now)
	want := "config: loaded 2026-12-02 10:00:00Z (start)\n" +
		"tls: app.example.com (acme, R11): expires 2027-01-31 10:00:00Z, in 60d\n" +
		"tls: api.example.com (acme, R11): WARNING: expires 2026-12-07 11:00:00Z, in 5d\n" +
		"tls: new.example.com (acme): no certificate yet\n" +
		"tls: * (files, Example CA): EXPIRED 2026-12-02 09:00:00Z\n" +
		"tls: app.test (internal, switchd internal CA edge): expires 2026-12-08 10:00:00Z, in 6d\n" +
		"tls: soon.example.com (acme, R11): WARNING: expires 2026-12-02 13:00:00Z, in 3h\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
