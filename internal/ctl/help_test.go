package ctl

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchd/switchd/control/api"
)

// TestCommandHelp: `help COMMAND` and `COMMAND -h` print that command's
// usage alone; a usage error in a command prints its usage, not all.
func TestCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "flip"}, {"flip", "-h"}, {"flip", "app", "--help"}} {
		res := runCtl(t, nil, args...)
		if res.code != 0 || !strings.HasPrefix(res.stdout, "usage: switchctl flip [SERVICE]") ||
			strings.Contains(res.stdout, "commands:") || res.stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, res.code, res.stdout, res.stderr)
		}
	}
	for c := range commands {
		if res := runCtl(t, nil, "help", c); res.code != 0 || !strings.HasPrefix(res.stdout, "usage: switchctl "+c) {
			t.Errorf("help %s: exit %d, %q", c, res.code, res.stdout)
		}
	}
	res := runCtl(t, nil, "wait", "app", "sleepy")
	if res.code != exitUsage || !strings.Contains(res.stderr, "usage: switchctl wait [SERVICE]") || strings.Contains(res.stderr, "commands:") {
		t.Errorf("usage error: exit %d, stderr %q", res.code, res.stderr)
	}
	if res := runCtl(t, nil, "help", "frobnicate"); res.code != exitUsage || !strings.Contains(res.stderr, `unknown command "frobnicate"`) {
		t.Errorf("help of an unknown command: exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestBadLogLevel is a usage error, found before asking switchd.
func TestBadLogLevel(t *testing.T) {
	f := newFake(t)
	res := runCtl(t, f, "log-level", "loud")
	if res.code != exitUsage || !strings.Contains(res.stderr, `bad level "loud"`) {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestJSONFailures: with --json, stdout always carries JSON: the API's
// error, or one of the same shape for what switchctl found itself.
func TestJSONFailures(t *testing.T) {
	res := runCtl(t, nil, "--json", "--addr", closedAddr(t), "status")
	var body api.ErrorBody
	if err := json.Unmarshal([]byte(res.stdout), &body); err != nil || res.code != exitFailed ||
		body.Error.Code != "unreachable" || !strings.Contains(body.Error.Message, "cannot reach switchd") {
		t.Errorf("unreachable: exit %d, stdout %q (%v)", res.code, res.stdout, err)
	}
	f := newFake(t).on("GET /v1/services/nope", errReply(404, api.CodeNotFound, "nope: no such service"))
	res = runCtl(t, f, "--json", "status", "nope")
	body = api.ErrorBody{}
	if err := json.Unmarshal([]byte(res.stdout), &body); err != nil || res.code != exitFailed || body.Error.Code != api.CodeNotFound {
		t.Errorf("404: exit %d, stdout %q (%v)", res.code, res.stdout, err)
	}
}

// TestProxyPort: an --addr that reaches switchd's proxy instead of the
// control API gets answers that are not the API's; switchctl says so.
func TestProxyPort(t *testing.T) {
	f := newFake(t).
		on("GET /v1/services", reply{status: 421, body: "misdirected request: no service for this host\n"}).
		on("GET /v1/services/app", reply{status: 200, body: "<html>blue</html>"})
	for _, args := range [][]string{{"status"}, {"status", "app"}} {
		res := runCtl(t, f, args...)
		if res.code != exitFailed || !strings.Contains(res.stderr, "not switchd's control API; is "+f.addr+" the proxy port?") {
			t.Errorf("%q: exit %d, stderr %q", args, res.code, res.stderr)
		}
	}
}

// TestCompletion: the scripts parse in bash, complete commands and
// flags, and ask switchd for service names where a SERVICE goes.
func TestCompletion(t *testing.T) {
	res := runCtl(t, nil, "completion", "bash")
	if res.code != 0 || !strings.Contains(res.stdout, "complete -F _switchctl switchctl") {
		t.Fatalf("exit %d, %q", res.code, res.stderr)
	}
	if zsh := runCtl(t, nil, "completion", "zsh"); zsh.code != 0 || !strings.HasPrefix(zsh.stdout, "#compdef switchctl") {
		t.Errorf("zsh: exit %d, %q", zsh.code, zsh.stdout)
	}
	if bad := runCtl(t, nil, "completion", "fish"); bad.code != exitUsage {
		t.Errorf("fish: exit %d", bad.code)
	}
	f := newFake(t).on("GET /v1/services", jsonReply(200, listOf("app", "api")))
	if names := runCtl(t, f, "completion", "services"); names.code != 0 || names.stdout != "app\napi\n" {
		t.Errorf("services: exit %d, %q", names.code, names.stdout)
	}

	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	// A switchctl on PATH that answers like the real one would.
	bin := t.TempDir()
	script := filepath.Join(bin, "switchctl")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$3 $4\" = \"completion services\" ] && printf 'app\\napi\\n'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		prog := res.stdout + `
COMP_WORDS=(` + strings.Join(words, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1))
_switchctl; echo "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "--norc", "-c", prog)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("switchctl", "fl"); got != "fleet flip" {
		t.Errorf("fl → %q", got)
	}
	if got := complete("switchctl", "flip", "--wa"); got != "--wait-stable" {
		t.Errorf("flip --wa → %q", got)
	}
	if got := complete("switchctl", "--addr", "x", "flip", "a"); got != "app api" {
		t.Errorf("flip a → %q", got)
	}
	if got := complete("switchctl", "set", "app", "g"); got != "green" {
		t.Errorf("set app g → %q", got)
	}
}

// TestHealth: `switchctl health` asks /healthz over a unix socket, as the
// Docker image's HEALTHCHECK does, and fails when no switchd answers.
func TestHealth(t *testing.T) {
	f := newUnixFake(t).on("GET /healthz", jsonReply(200, api.Health{Status: "ok", Version: "v1.2.3", PID: 7}))
	res := runCtl(t, f, "health")
	if res.code != 0 || res.stdout != "switchd v1.2.3: ok (pid 7)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if reqs := f.requests(); len(reqs) != 1 || reqs[0].Auth != "" {
		t.Errorf("requests %+v, want one without a token", reqs)
	}
	res = runCtl(t, nil, "--addr", "unix:"+filepath.Join(t.TempDir(), "none.sock"), "health")
	if res.code != exitFailed {
		t.Errorf("no switchd: exit %d", res.code)
	}
}
