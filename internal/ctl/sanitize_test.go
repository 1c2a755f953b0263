package ctl

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchd/switchd/control/api"
)

// hostile carries what must never reach a terminal raw: C1 CSI (U+009B),
// ESC, a bidi override and isolate, a line separator, a zero-width space,
// BEL and a raw 0x9b byte (invalid UTF-8).
const hostile = "x\u009b2J\x1b]0;pwned\a\u202egnp.exe\u2066\u2028\u200b\xc2"

func mustNotLeak(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s prints invalid UTF-8: %q", what, out)
	}
	for _, bad := range []string{"\u009b", "\x1b", "\a", "\u202e", "\u2066", "\u2028", "\u200b"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s prints %q raw: %q", what, bad, out)
		}
	}
}

// TestServerTextSanitized: whatever the server says — changed_by, reason,
// a service's or upstream's name, an error message, an event — switchctl
// prints no control, format or bidi character raw, in tables, lines,
// errors and --json alike; --json still decodes to the same values.
func TestServerTextSanitized(t *testing.T) {
	s := appService()
	s.Name, s.ChangedBy, s.Reason, s.Detail, s.Active = "app"+hostile, "mallory"+hostile, "manual"+hostile, hostile, "green"+hostile
	s.Pools["blue"].Upstreams[0].LastError = hostile
	s.Pools["blue"].Upstreams[0].State = "down" + hostile
	s.Guard.LastTrip = &api.GuardTrip{At: ts("2026-11-26T10:00:00Z"), From: "green" + hostile, To: "blue" + hostile, Detail: hostile}
	res := api.ChangeResult{Changed: true, From: "blue" + hostile, To: "green" + hostile, Service: s}
	ev := api.Event{ID: 1, Type: "flip" + hostile, Service: "app", From: "blue" + hostile, To: "green" + hostile, Actor: hostile, Detail: hostile}
	evData, _ := json.Marshal(ev)
	f := newFake(t).
		on("GET /v1/services", jsonReply(200, api.ServiceList{Services: []api.Service{s}})).
		on("GET /v1/services/app", jsonReply(200, s)).
		on("POST /v1/services/app/flip", jsonReply(200, res)).
		on("POST /v1/services/app/activate", errReply(409, api.CodeTargetUnhealthy, "green: 0 of 2 healthy "+hostile)).
		on("POST /v1/services/app/rollback", errReply(409, api.CodeNoPrevious, hostile)).
		on("GET /v1/services/app/wait", jsonReply(200, api.WaitResult{Reached: "stable", Service: s})).
		on("POST /v1/reload", errReply(400, api.CodeBadRequest, hostile)).
		on("GET /v1/log/level", jsonReply(200, api.LogLevel{Level: "info" + hostile})).
		on("GET /v1/events", reply{fn: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "id: 1\nevent: flip\ndata: %s\n\nid: 2\nevent: x\ndata: not json %s\n\n", evData, hostile)
		}})
	for _, args := range [][]string{
		{"status"}, {"status", "app"}, {"flip", "app"}, {"set", "app", "green"}, {"rollback", "app"},
		{"wait", "app", "stable"}, {"reload"}, {"log-level"}, {"watch", "--timeout", "300ms"},
		{"--json", "status", "app"}, {"--json", "flip", "app"}, {"--json", "watch", "--timeout", "300ms"},
	} {
		r := runCtl(t, f, args...)
		name := strings.Join(args, " ")
		if r.stdout == "" && r.stderr == "" {
			t.Errorf("%s printed nothing", name)
		}
		mustNotLeak(t, name+" (stdout)", r.stdout)
		mustNotLeak(t, name+" (stderr)", r.stderr)
		if args[0] == "--json" && args[1] == "status" {
			var got api.Service
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ChangedBy != strings.ToValidUTF8(s.ChangedBy, "\ufffd") {
				t.Errorf("--json status: %v, changed_by %q", err, got.ChangedBy)
			}
		}
		if !strings.Contains(r.stdout+r.stderr, `\u009b`) && args[0] != "log-level" {
			t.Errorf("%s: the CSI is not shown escaped: %q %q", name, r.stdout, r.stderr)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"deploy 4f2a":      "deploy 4f2a",
		"tab\there\nnl":    "tab here nl",
		"csi\u009b31m":     `csi\u009b31m`,
		"esc\x1b[2J":       `esc\x1b[2J`,
		"rlo\u202etxt.exe": `rlo\u202etxt.exe`,
		"lri\u2066x\u2069": `lri\u2066x\u2069`,
		"raw\x9b":          "raw\ufffd",
		"ünïcödé ok — 日本語": "ünïcödé ok — 日本語",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	in := []byte(`{"a":"x` + "\u009b\u202e\U000e0001\x9b" + `"}`)
	out := jsonSafe(in)
	var v map[string]string
	if err := json.Unmarshal(out, &v); err != nil || v["a"] != "x\u009b\u202e\U000e0001\ufffd" {
		t.Errorf("jsonSafe: %s: %v %q", out, err, v["a"])
	}
	mustNotLeak(t, "jsonSafe", string(out))
}
