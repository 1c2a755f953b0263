package ctl

import (
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/control/api"
)

// TestDeployUsage: deploy and pool are refused (exit 2) without what they
// need, before anything is asked of switchd.
func TestDeployUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"deploy", "app"}, "--upstream ADDR is required"},
		{[]string{"deploy", "app", "--upstream", "10.0.0.5:8080", "--smoke", "healthz"}, "bad --smoke"},
		{[]string{"pool", "app"}, "missing arguments"},
		{[]string{"pool", "app", "purple"}, "bad colour"},
		{[]string{"pool", "add", "app", "green"}, "want SERVICE COLOR ADDR"},
		{[]string{"pool", "reset", "app", "green", "x"}, "want SERVICE COLOR"},
	} {
		f := newFake(t)
		res := runCtl(t, f, tc.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, tc.msg) || len(f.requests()) != 0 {
			t.Errorf("%v: exit %d, stderr %q, %d requests", tc.args, res.code, res.stderr, len(f.requests()))
		}
	}
}

// TestStableTimeout: the wait for stable lasts the guard's watch plus the
// margin; none for a watch that never ends.
func TestStableTimeout(t *testing.T) {
	now := time.Now()
	until := now.Add(10 * time.Minute)
	for _, tc := range []struct {
		g    *api.GuardStatus
		want time.Duration
	}{
		{&api.GuardStatus{Enabled: true, ArmedUntil: &until}, 10*time.Minute + stableMargin},
		{&api.GuardStatus{Enabled: true, ArmedAlways: true}, 0},
		{&api.GuardStatus{Enabled: false}, defaultWaitTimeout},
		{nil, defaultWaitTimeout},
	} {
		if got := stableTimeout(api.Service{Guard: tc.g}, now); got != tc.want {
			t.Errorf("guard %+v: %s, want %s", tc.g, got, tc.want)
		}
	}
}
