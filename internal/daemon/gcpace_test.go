package daemon

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGCPacing: the real binary paces its collector (internal/gcpace) and
// says so in its start line; go_gc_gogc_percent shows Go's 100 on a small
// heap. An operator's GOGC turns the pacing off and is what the runtime uses.
func TestGCPacing(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") {
			env = append(env, kv)
		}
	}
	for _, c := range []struct {
		env       []string
		mode, pct string
	}{
		{env, `"gc":"paced"`, "100"},
		{append(env[:len(env):len(env)], "GOGC=250"), `"gc":"GOGC=250"`, "250"},
	} {
		cfgPath, _, ctlURL := procConfig(t, t.TempDir(), addrOf(blue), addrOf(green))
		infoLevel(t, cfgPath)
		p := startProcEnv(t, c.env, binPath, "-config", cfgPath)
		waitUp(t, ctlURL+"/healthz", p)
		eventually(t, "the start line", 5*time.Second, func() bool { return strings.Contains(p.stderr.String(), "switchd started") })
		if out := p.stderr.String(); !strings.Contains(out, c.mode) {
			t.Errorf("start line lacks %s:\n%s", c.mode, out)
		}
		if got := metric(t, ctlURL, "go_gc_gogc_percent"); got != c.pct {
			t.Errorf("go_gc_gogc_percent = %q, want %s (%s)", got, c.pct, c.mode)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM; output:\n%s", code, p.stderr.String())
		}
	}
}

// infoLevel turns the test config's quiet [log] level "warn" up to "info".
func infoLevel(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	up := bytes.Replace(b, []byte(`level = "warn"`), []byte(`level = "info"`), 1)
	if bytes.Equal(up, b) {
		t.Fatal(`no level = "warn" in the test config`)
	}
	if err := os.WriteFile(path, up, 0o600); err != nil {
		t.Fatal(err)
	}
}
