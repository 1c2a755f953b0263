package daemon

import (
	"os"
	"strings"
	"testing"
)

// execReload returns the arguments switchd.service gives switchctl in
// ExecReload=, with --addr pointed at addr.
func execReload(t *testing.T, addr string) []string {
	t.Helper()
	unit, err := os.ReadFile("../../systemd/switchd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(unit), "\n") {
		cmd, ok := strings.CutPrefix(line, "ExecReload=")
		if !ok {
			continue
		}
		f := strings.Fields(cmd)
		if len(f) == 0 || !strings.HasSuffix(f[0], "/switchctl") {
			t.Fatalf("ExecReload=%s: not switchctl, so a failed reload would not fail systemctl reload", cmd)
		}
		args := f[1:]
		for i := range args {
			if args[i] == "--addr" && i+1 < len(args) {
				args[i+1] = addr
			}
		}
		return args
	}
	t.Fatal("switchd.service has no ExecReload=")
	return nil
}

// TestExecReloadFails: the unit's ExecReload exits 0 when the file reloads
// and non-zero, with switchd's reason, when it is bad; `kill -HUP` said
// "done" either way.
func TestExecReloadFails(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	cfgPath, _, ctlURL := procConfig(t, t.TempDir(), addrOf(blue), addrOf(green))
	startServing(t, cfgPath, ctlURL)
	args := execReload(t, ctlURL)
	if code, _, errs := switchctl(t, ctlURL, args...); code != 0 {
		t.Fatalf("reload of a good file: exit %d %q", code, errs)
	}
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, cfgPath, string(good)+"\nbogus_key = 1\n")
	code, _, errs := switchctl(t, ctlURL, args...)
	if code != 1 || !strings.Contains(errs, "bogus_key") {
		t.Fatalf("reload of a bad file: exit %d %q, want 1 naming bogus_key", code, errs)
	}
}
