package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTokenAddAndUse: `switchd token add` prints a secret that switchctl can
// use against a daemon whose control API needs tokens.
func TestTokenAddAndUse(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	p := startProc(t, "token", "add", "deployer", "operate", "-file", tokens)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("token add: exit %d: %s", code, p.stderr.String())
	}
	out := p.stderr.String() // stdout and stderr share the buffer here
	secret := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "swd_") {
			secret = line
		}
	}
	if secret == "" {
		t.Fatalf("no secret printed:\n%s", out)
	}
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, dir, addrOf(blue), addrOf(green))
	text = strings.Replace(text, "[control]\n", fmt.Sprintf("[control]\ntokens_file = %q\n", tokens), 1)
	in := startRun(t, text)
	if code, _, errs := switchctl(t, in.control, "status"); code != 3 || !strings.Contains(errs, "token") {
		t.Fatalf("status without a token: %d %q", code, errs)
	}
	if code, _, errs := switchctl(t, in.control, "--token", secret, "wait", "healthy", "green", "--timeout", "5s"); code != 0 {
		t.Fatalf("wait with the token: %d %q", code, errs)
	}
	if code, _, errs := switchctl(t, in.control, "--token", secret, "flip"); code != 0 {
		t.Fatalf("flip with the token: %d %q", code, errs)
	}
	if code, out, _ := switchctl(t, in.control, "--token", secret, "status", "app"); code != 0 || !strings.Contains(out, "deployer") {
		t.Fatalf("status after the flip does not name the token: %d %q", code, out)
	}
	if code, _, errs := switchctl(t, in.control, "--token", secret, "reload"); code != 3 || !strings.Contains(errs, "admin") {
		t.Fatalf("reload with an operate token: %d %q", code, errs)
	}
}
