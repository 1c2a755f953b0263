package ctl

import (
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/control/api"
)

func TestStatusRows(t *testing.T) {
	reverted := appService()
	reverted.Name, reverted.Active, reverted.Reason, reverted.Detail = "api", "blue", "guard", "12.5% errors over 10s"
	reverted.ChangedBy = "guard"
	fresh := appService()
	fresh.Name, fresh.Reason, fresh.Detail, fresh.ChangedBy, fresh.ChangedAt = "new", "initial", "", "", time.Time{}
	fresh.Pools["blue"] = api.Pool{}
	forced := appService()
	forced.Name, forced.Forced, forced.Detail = "hot\tfix", true, "line\nbreak"
	forced.Pools["blue"] = api.Pool{Healthy: 0, Total: 2, Panic: true}

	var b strings.Builder
	writeServices(&b, []api.Service{reverted, fresh, forced})
	// Reasons this long do not fit in 80 columns beside the rest: they
	// come below the table.
	want := `SERVICE  ACTIVE  IDLE   GEN  BLUE       GREEN  CHANGED (UTC)     BY
api      blue    green  7    2/2        2/2    2026-11-26 10:00  guard
new      green   blue   7    -          2/2    -                 -
hot fix  green   blue   7    0/2 PANIC  2/2    2026-11-26 10:00  deployer
  api: guard: 12.5% errors over 10s
  new: initial
  hot fix: line break (forced)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestGuardLine(t *testing.T) {
	now := ts("2026-11-26T10:00:00Z")
	tests := []struct {
		g    api.GuardStatus
		want string
	}{
		{api.GuardStatus{}, "guard: off"},
		{api.GuardStatus{Enabled: true, ArmedUntil: tp("2026-11-26T09:00:00Z"), WindowRequests: 3},
			"guard: not armed, 3 requests, 0.0% errors in window"},
		{api.GuardStatus{Enabled: true, ArmedAlways: true, WindowRequests: 40, WindowErrorRate: 0.125,
			LastTrip: &api.GuardTrip{At: ts("2026-11-26T09:59:00Z"), From: "green", To: "blue", Detail: "12.5% errors"}},
			"guard: armed always, 40 requests, 12.5% errors in window, last trip 2026-11-26 09:59:00Z green → blue (12.5% errors)"},
	}
	for _, tt := range tests {
		if got := guardLine(&tt.g, now); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestFormatEvent(t *testing.T) {
	failed := false
	tests := []struct {
		ev   api.Event
		want string
	}{
		{api.Event{Time: ts("2026-11-26T10:00:00Z"), Type: "guard", Service: "app", From: "green", To: "blue",
			Generation: 9, Actor: "guard", Detail: "12.5% errors"},
			"2026-11-26 10:00:00Z  guard app green → blue (generation 9, by guard): 12.5% errors"},
		{api.Event{Time: ts("2026-11-26T10:00:00Z"), Type: "flip", Service: "app", From: "blue", To: "green",
			Generation: 8, Forced: true},
			"2026-11-26 10:00:00Z  flip app blue → green (generation 8, forced)"},
		{api.Event{Type: "reload", OK: &failed, Detail: "config.toml:3:\tunknown key"},
			"-  reload failed: config.toml:3: unknown key"},
	}
	for _, tt := range tests {
		if got := formatEvent(tt.ev); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

// TestStatusFits80: the tables stay within 80 columns, whatever the
// reasons and errors; a short reason stays in its column.
func TestStatusFits80(t *testing.T) {
	short := appService()
	short.Detail, short.ChangedBy = "4f2a", "ci"
	var b strings.Builder
	writeServices(&b, []api.Service{short})
	if !strings.Contains(b.String(), "REASON") || !strings.Contains(b.String(), "4f2a") {
		t.Errorf("a short reason left its column:\n%s", b.String())
	}

	long := appService()
	long.Detail = strings.Repeat("deploy of a very long change description ", 5)
	up := long.Pools["green"]
	up.Upstreams[0].Address = "https://upstream-with-a-long-name.internal.example.com:8443"
	up.Upstreams[0].LastError = strings.Repeat("connection refused ", 10)
	long.Pools["green"] = up
	b.Reset()
	writeServices(&b, []api.Service{long})
	writeUpstreams(&b, long)
	for _, line := range strings.Split(b.String(), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("%d columns: %q", n, line)
		}
	}
	if !strings.Contains(b.String(), "…") || !strings.Contains(b.String(), "upstream-with-a-long-name") {
		t.Errorf("want long cells cut with …, addresses kept:\n%s", b.String())
	}
}
