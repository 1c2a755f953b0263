// Package systemd holds switchd's unit files; its test checks them.
package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

var units = []string{"switchd.service", "switchd.socket", "switchd-control.socket", "switchd-https.socket"}

// directives returns the values of key in a unit file, in order.
func directives(t *testing.T, unit, key string) []string {
	t.Helper()
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestPublicSocketsDualStack: :80 and :443 take IPv6 clients as well as
// IPv4 ones — one [::] socket with BindIPv6Only=both, which the kernel's
// net.ipv6.bindv6only setting cannot turn into IPv6 only.
func TestPublicSocketsDualStack(t *testing.T) {
	for unit, port := range map[string]string{"switchd.socket": "80", "switchd-https.socket": "443"} {
		if got := directives(t, unit, "ListenStream"); len(got) != 1 || got[0] != "[::]:"+port {
			t.Errorf("%s: ListenStream=%v, want [::]:%s", unit, got, port)
		}
		if got := directives(t, unit, "BindIPv6Only"); len(got) != 1 || got[0] != "both" {
			t.Errorf("%s: BindIPv6Only=%v, want both", unit, got)
		}
	}
}

// TestServiceWatchdog: the unit asks for the pings switchd sends.
func TestServiceWatchdog(t *testing.T) {
	if got := directives(t, "switchd.service", "WatchdogSec"); len(got) != 1 || got[0] == "0" {
		t.Fatalf("WatchdogSec=%v", got)
	}
}

// TestUnitsVerify runs systemd-analyze verify on the units, with the
// binaries they name standing in a temporary folder.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir, bin := t.TempDir(), t.TempDir()
	for _, name := range []string{"switchd", "switchctl"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "/usr/local/bin/", bin+"/")
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
