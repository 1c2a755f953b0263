package ctl

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/control/api"
)

const statusTable = `SERVICE  ACTIVE  IDLE  GEN  BLUE  GREEN  CHANGED (UTC)     BY        REASON
app      green   blue  7    2/2   2/2    2026-11-26 10:00  deployer  deploy 4f2a
`

func TestCommands(t *testing.T) {
	svc := appService()
	unhealthy := "app: green: 0 of 2 upstreams healthy (10.0.0.21:8080: connection refused)"
	type req struct {
		method, path string
		body         map[string]any
	}
	tests := []struct {
		name       string
		args       []string
		routes     map[string][]reply
		wantCode   int
		wantStdout string // exact, unless wantIn is set
		wantIn     []string
		wantStderr string
		wantReqs   []req
	}{
		{
			name:       "status all",
			args:       []string{"status"},
			routes:     map[string][]reply{"GET /v1/services": {jsonReply(200, listOf("app"))}},
			wantStdout: statusTable,
			wantReqs:   []req{{"GET", "/v1/services", nil}},
		},
		{
			name:   "status one",
			args:   []string{"status", "app"},
			routes: map[string][]reply{"GET /v1/services/app": {jsonReply(200, svc)}},
			wantIn: []string{
				statusTable,
				"COLOR  ADDRESS         STATE  SINCE                 LATENCY  INFLIGHT  ERROR\n",
				"blue   10.0.0.11:8080  up     2026-11-26 09:00:00Z  1.2ms    0         -\n",
				"green  10.0.0.22:8080  up     2026-11-26 09:00:00Z  1.2ms    0         -\n",
				"guard: armed until 2099-01-01 00:00:00Z, 512 requests, 0.0% errors in window\n",
			},
			wantReqs: []req{{"GET", "/v1/services/app", nil}},
		},
		{
			name:     "status unknown service",
			args:     []string{"status", "nope"},
			routes:   map[string][]reply{"GET /v1/services/nope": {errReply(404, api.CodeNotFound, `unknown service "nope"`)}},
			wantCode: exitFailed, wantStderr: "switchctl: status nope: unknown service \"nope\"\n",
		},
		{
			name:       "flip",
			args:       []string{"flip", "app", "--reason", "deploy 4f2a"},
			routes:     map[string][]reply{"POST /v1/services/app/flip": {jsonReply(200, changed("blue", "green", 8))}},
			wantStdout: "app: blue → green (generation 8)\n",
			wantReqs:   []req{{"POST", "/v1/services/app/flip", map[string]any{"reason": "deploy 4f2a"}}},
		},
		{
			name:       "flip with every option",
			args:       []string{"flip", "--expect", "blue", "--expect-generation", "7", "--force", "app"},
			routes:     map[string][]reply{"POST /v1/services/app/flip": {jsonReply(200, changed("blue", "green", 8))}},
			wantStdout: "app: blue → green (generation 8)\n",
			wantReqs: []req{{"POST", "/v1/services/app/flip",
				map[string]any{"expect": "blue", "expect_generation": 7.0, "force": true}}},
		},
		{
			name:       "set",
			args:       []string{"set", "app", "blue"},
			routes:     map[string][]reply{"POST /v1/services/app/activate": {jsonReply(200, changed("green", "blue", 8))}},
			wantStdout: "app: green → blue (generation 8)\n",
			wantReqs:   []req{{"POST", "/v1/services/app/activate", map[string]any{"color": "blue"}}},
		},
		{
			name:       "set unchanged",
			args:       []string{"set", "app", "green"},
			routes:     map[string][]reply{"POST /v1/services/app/activate": {jsonReply(200, changed("green", "green", 7))}},
			wantStdout: "app: green already active (generation 7)\n",
			wantReqs:   []req{{"POST", "/v1/services/app/activate", map[string]any{"color": "green"}}},
		},
		{
			name:       "rollback",
			args:       []string{"rollback", "app"},
			routes:     map[string][]reply{"POST /v1/services/app/rollback": {jsonReply(200, changed("green", "blue", 8))}},
			wantStdout: "app: green → blue (generation 8)\n",
			wantReqs:   []req{{"POST", "/v1/services/app/rollback", map[string]any{}}},
		},
		{
			name: "rollback without previous",
			args: []string{"rollback", "app"},
			routes: map[string][]reply{"POST /v1/services/app/rollback": {
				errReply(409, api.CodeNoPrevious, "app: no previous colour to roll back to")}},
			wantCode: exitRefused, wantStderr: "switchctl: rollback app: no previous colour to roll back to\n",
		},
		{
			name:     "flip to unhealthy",
			args:     []string{"flip", "app"},
			routes:   map[string][]reply{"POST /v1/services/app/flip": {errReply(409, api.CodeTargetUnhealthy, unhealthy)}},
			wantCode: exitRefused,
			wantStderr: "switchctl: flip app: green: 0 of 2 upstreams healthy " +
				"(10.0.0.21:8080: connection refused)\n",
			wantReqs: []req{{"POST", "/v1/services/app/flip", map[string]any{}}},
		},
		{
			name:     "flip to empty",
			args:     []string{"flip", "app"},
			routes:   map[string][]reply{"POST /v1/services/app/flip": {errReply(409, api.CodeTargetEmpty, "app: blue has no upstreams")}},
			wantCode: exitRefused, wantStderr: "switchctl: flip app: blue has no upstreams\n",
		},
		{
			name: "flip conflict",
			args: []string{"flip", "app", "--expect", "blue"},
			routes: map[string][]reply{"POST /v1/services/app/flip": {
				errReply(409, api.CodeConflict, "app: expected blue active, but green is (generation 7)")}},
			wantCode: exitRefused, wantStderr: "switchctl: flip app: expected blue active, but green is (generation 7)\n",
		},
		{
			name:     "unauthorized",
			args:     []string{"flip", "app"},
			routes:   map[string][]reply{"POST /v1/services/app/flip": {errReply(401, api.CodeUnauthorized, "missing or unknown token")}},
			wantCode: exitRefused, wantStderr: "switchctl: flip app: missing or unknown token\n",
		},
		{
			name:     "forbidden",
			args:     []string{"flip", "app"},
			routes:   map[string][]reply{"POST /v1/services/app/flip": {errReply(403, api.CodeForbidden, `token "ci" has role read, flip needs operate`)}},
			wantCode: exitRefused, wantStderr: "switchctl: flip app: token \"ci\" has role read, flip needs operate\n",
		},
		{
			name: "persist failed is not retried",
			args: []string{"flip", "app"},
			routes: map[string][]reply{"POST /v1/services/app/flip": {
				errReply(500, api.CodePersist, "app: rename state.json: read-only file system; nothing changed")}},
			wantCode:   exitFailed,
			wantStderr: "switchctl: flip app: rename state.json: read-only file system; nothing changed\n",
			wantReqs:   []req{{"POST", "/v1/services/app/flip", map[string]any{}}},
		},
		{
			name:       "not switchd's error body",
			args:       []string{"status"},
			routes:     map[string][]reply{"GET /v1/services": {{status: 418, body: "short and stout"}}},
			wantCode:   exitFailed,
			wantStderr: " the proxy port? (--addr, $SWITCHD_ADDR; the control API listens on [control].listen, 127.0.0.1:9180 by default)\n",
		},
		{
			name:       "reload",
			args:       []string{"reload"},
			routes:     map[string][]reply{"POST /v1/reload": {{status: 200, body: `{"ok":true,"services":1}`}}},
			wantStdout: "configuration reloaded\n",
			wantReqs:   []req{{"POST", "/v1/reload", nil}},
		},
		{
			name:       "reload refused",
			args:       []string{"reload"},
			routes:     map[string][]reply{"POST /v1/reload": {errReply(400, api.CodeBadRequest, "config.toml:3: unknown key \"lissen\"")}},
			wantCode:   exitFailed,
			wantStderr: "switchctl: reload: config.toml:3: unknown key \"lissen\"\n",
		},
		{
			name:       "upgrade",
			args:       []string{"upgrade"},
			routes:     map[string][]reply{"POST /v1/upgrade": {{status: 200, body: `{"ok":true}`}}},
			wantStdout: "upgraded: the new process serves; the old one drains its connections\n",
			wantReqs:   []req{{"POST", "/v1/upgrade", nil}},
		},
		{
			name: "upgrade failed",
			args: []string{"upgrade"},
			routes: map[string][]reply{"POST /v1/upgrade": {errReply(500, api.CodeUpgradeFailed,
				"upgrade failed, the running process keeps serving: child pid=7 exited: exit status 1")}},
			wantCode:   exitFailed,
			wantStderr: "switchctl: upgrade: upgrade failed, the running process keeps serving: child pid=7 exited: exit status 1\n",
			wantReqs:   []req{{"POST", "/v1/upgrade", nil}},
		},
		{
			name: "upgrade retried while switchd hands over",
			args: []string{"upgrade"},
			routes: map[string][]reply{"POST /v1/upgrade": {errReply(503, api.CodeUpgrading, "switchd is handing over to a new process; retry"),
				{status: 200, body: `{"ok":true}`}}},
			wantStdout: "upgraded: the new process serves; the old one drains its connections\n",
			wantReqs:   []req{{"POST", "/v1/upgrade", nil}, {"POST", "/v1/upgrade", nil}},
		},
		{
			name:       "json error prints the API's error on stdout",
			args:       []string{"--json", "flip", "app"},
			routes:     map[string][]reply{"POST /v1/services/app/flip": {errReply(409, api.CodeTargetUnhealthy, unhealthy)}},
			wantCode:   exitRefused,
			wantStdout: indented(api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeTargetUnhealthy, Message: unhealthy}}),
			wantStderr: "switchctl: flip app: green: 0 of 2 upstreams healthy (10.0.0.21:8080: connection refused)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			for route, replies := range tt.routes {
				f.on(route, replies...)
			}
			res := runCtl(t, f, append([]string{"--token", "s3cret"}, tt.args...)...)
			if res.code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", res.code, tt.wantCode, res.stdout, res.stderr)
			}
			if tt.wantIn != nil {
				for _, s := range tt.wantIn {
					if !strings.Contains(res.stdout, s) {
						t.Errorf("stdout lacks %q:\n%s", s, res.stdout)
					}
				}
			} else if res.stdout != tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, tt.wantStdout)
			}
			if tt.wantStderr == "" && res.stderr != "" || !strings.HasSuffix(res.stderr, tt.wantStderr) {
				t.Errorf("stderr %q, want %q", res.stderr, tt.wantStderr)
			}
			if tt.wantReqs == nil {
				return
			}
			got := f.requests()
			if len(got) != len(tt.wantReqs) {
				t.Fatalf("server saw %d requests, want %d: %+v", len(got), len(tt.wantReqs), got)
			}
			for i, w := range tt.wantReqs {
				g := got[i]
				if g.Method != w.method || g.Path != w.path {
					t.Errorf("request %d: %s %s, want %s %s", i, g.Method, g.Path, w.method, w.path)
				}
				if b := decodeBody(t, g.Body); !reflect.DeepEqual(b, w.body) {
					t.Errorf("request %d body %s, want %v", i, g.Body, w.body)
				}
				if g.Method != "GET" && g.ContentType != "application/json" {
					t.Errorf("request %d Content-Type %q", i, g.ContentType)
				}
				if g.Auth != "Bearer s3cret" {
					t.Errorf("request %d Authorization %q", i, g.Auth)
				}
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		route string
		rep   reply
		into  any
	}{
		{"status all", []string{"status"}, "GET /v1/services", jsonReply(200, listOf("app", "api")), &api.ServiceList{}},
		{"status one", []string{"status", "app"}, "GET /v1/services/app", jsonReply(200, appService()), &api.Service{}},
		{"flip", []string{"flip", "app"}, "POST /v1/services/app/flip", jsonReply(200, changed("blue", "green", 8)), &api.ChangeResult{}},
		{"wait", []string{"wait", "app", "stable"}, "GET /v1/services/app/wait",
			jsonReply(200, api.WaitResult{Reached: "stable", Service: appService()}), &api.WaitResult{}},
		{"reload", []string{"reload"}, "POST /v1/reload", reply{status: 200, body: `{"ok":true}`}, &map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t).on(tt.route, tt.rep)
			res := runCtl(t, f, append(tt.args, "--json")...)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			dec := json.NewDecoder(strings.NewReader(res.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.into); err != nil {
				t.Fatalf("stdout is not the API's JSON: %v\n%s", err, res.stdout)
			}
			if dec.More() {
				t.Errorf("more than one JSON value on stdout:\n%s", res.stdout)
			}
			// The JSON is the server's, field for field.
			var got, want any
			json.Unmarshal([]byte(res.stdout), &got)
			json.Unmarshal([]byte(tt.rep.body), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("stdout %s, want %s", res.stdout, tt.rep.body)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // on stderr; usage follows on errors
	}{
		{"no command", nil, exitUsage, "switchctl: no command"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `switchctl: unknown command "frobnicate"`},
		{"unknown flag", []string{"status", "--force"}, exitUsage, "flag provided but not defined: -force"},
		{"unknown global flag", []string{"--verbose", "status"}, exitUsage, "flag provided but not defined: -verbose"},
		{"flag without value", []string{"flip", "app", "--reason"}, exitUsage, "flag needs an argument: -reason"},
		{"too many", []string{"status", "a", "b"}, exitUsage, "status: too many arguments: a b"},
		{"set without colour", []string{"set"}, exitUsage, "set: missing arguments"},
		{"set bad colour", []string{"set", "app", "red"}, exitUsage, `set: bad colour "red"`},
		{"wait without condition", []string{"wait", "app"}, exitUsage, `wait: bad condition "app"`},
		{"wait bad condition", []string{"wait", "app", "sleepy", "green"}, exitUsage, `wait: bad condition "sleepy green"`},
		{"wait bad colour", []string{"wait", "healthy", "red"}, exitUsage, `wait: bad colour "red"`},
		{"bad expect", []string{"flip", "--expect", "purple"}, exitUsage, `flip: bad --expect "purple"`},
		{"bad generation", []string{"flip", "--expect-generation", "x"}, exitUsage, "want a generation number"},
		{"bad timeout", []string{"--timeout", "soon", "status"}, exitUsage, `invalid value "soon" for flag -timeout`},
		{"negative timeout", []string{"status", "--timeout", "-1s"}, exitUsage, "bad --timeout -1s"},
		{"bad addr", []string{"--addr", "ftp://x", "status"}, exitUsage, `bad --addr "ftp://x"`},
		{"reload takes nothing", []string{"reload", "now"}, exitUsage, "reload: too many arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCtl(t, nil, tt.args...)
			if res.code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %s", res.code, tt.wantCode, res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
			if !strings.Contains(res.stderr, tt.wantErr) || !strings.Contains(res.stderr, "usage: switchctl") {
				t.Errorf("stderr lacks %q and usage:\n%s", tt.wantErr, res.stderr)
			}
		})
	}

	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"flip", "-h"}, {"wait", "app", "--help"}} {
		res := runCtl(t, nil, args...)
		if res.code != 0 || !strings.HasPrefix(res.stdout, "usage: switchctl") || res.stderr != "" {
			t.Errorf("%q: exit %d, stdout %.40q, stderr %q; want 0 and usage on stdout", args, res.code, res.stdout, res.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	// No server: version must not need one.
	res := runCtl(t, nil, "--addr", closedAddr(t), "version")
	if want := "switchctl dev (" + runtime.Version() + ")\n"; res.code != 0 || res.stdout != want {
		t.Errorf("exit %d, stdout %q; want 0, %q", res.code, res.stdout, want)
	}
	res = runCtl(t, nil, "version", "--json")
	var v struct{ Version, GoVersion string }
	if err := json.Unmarshal([]byte(res.stdout), &v); err != nil || res.code != 0 || v.Version != "dev" {
		t.Errorf("version --json: exit %d, %q (%v)", res.code, res.stdout, err)
	}
}

func TestFlagInterleaving(t *testing.T) {
	flips := [][]string{
		{"flip", "--reason", "deploy x", "app"},
		{"flip", "app", "--reason", "deploy x"},
		{"flip", "app", "--reason=deploy x", "--token", "t"},
		{"--token", "t", "flip", "-reason", "deploy x", "app"},
		{"--token=other", "flip", "app", "--token", "t", "--reason", "deploy x"},
		{"flip", "--reason", "deploy x", "--", "app"},
	}
	for _, args := range flips {
		f := newFake(t).on("POST /v1/services/app/flip", jsonReply(200, changed("blue", "green", 8)))
		res := runCtl(t, f, append([]string{"--token", "t"}, args...)...)
		reqs := f.requests()
		if res.code != 0 || len(reqs) != 1 {
			t.Errorf("%q: exit %d, %d requests; stderr %s", args, res.code, len(reqs), res.stderr)
			continue
		}
		if b := decodeBody(t, reqs[0].Body); b["reason"] != "deploy x" || reqs[0].Auth != "Bearer t" || reqs[0].Path != "/v1/services/app/flip" {
			t.Errorf("%q: server saw %+v", args, reqs[0])
		}
	}

	waits := [][]string{
		{"wait", "app", "healthy", "green", "--timeout", "5s"},
		{"--timeout", "5s", "wait", "app", "healthy", "green"},
		{"wait", "--timeout=5s", "app", "healthy", "green"},
		{"wait", "app", "--timeout", "5", "healthy", "--json", "green"},
		{"--timeout", "1h", "wait", "app", "healthy", "green", "--timeout", "5s"},
	}
	for _, args := range waits {
		f := newFake(t).on("GET /v1/services/app/wait", jsonReply(200, api.WaitResult{Reached: "healthy:green", Service: appService()}))
		res := runCtl(t, f, args...)
		reqs := f.requests()
		if res.code != 0 || len(reqs) != 1 {
			t.Errorf("%q: exit %d, %d requests; stderr %s", args, res.code, len(reqs), res.stderr)
			continue
		}
		q := parseQuery(t, reqs[0].Query)
		d, err := time.ParseDuration(q["timeout"])
		if q["until"] != "healthy:green" || err != nil || d > 5*time.Second || d < 4*time.Second {
			t.Errorf("%q: query %q", args, reqs[0].Query)
		}
	}
}

func TestDefaultService(t *testing.T) {
	t.Run("one", func(t *testing.T) {
		f := newFake(t).
			on("GET /v1/services", jsonReply(200, listOf("app"))).
			on("POST /v1/services/app/flip", jsonReply(200, changed("blue", "green", 8))).
			on("POST /v1/services/app/activate", jsonReply(200, changed("green", "green", 7))).
			on("GET /v1/services/app/wait", jsonReply(200, api.WaitResult{Reached: "healthy:green", Service: appService()}))
		for _, tc := range []struct {
			args []string
			path string
			out  string
		}{
			{[]string{"flip"}, "/v1/services/app/flip", "app: blue → green (generation 8)\n"},
			{[]string{"set", "green"}, "/v1/services/app/activate", "app: green already active (generation 7)\n"},
			{[]string{"wait", "healthy", "green"}, "/v1/services/app/wait", "app: green healthy (2/2 up)\n"},
		} {
			before := len(f.requests())
			res := runCtl(t, f, tc.args...)
			reqs := f.requests()[before:]
			if res.code != 0 || res.stdout != tc.out {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, res.code, res.stdout, res.stderr)
			}
			if len(reqs) != 2 || reqs[0].Path != "/v1/services" || reqs[1].Path != tc.path {
				t.Errorf("%q: requests %+v", tc.args, reqs)
			}
		}
	})
	t.Run("several", func(t *testing.T) {
		f := newFake(t).on("GET /v1/services", jsonReply(200, listOf("a", "b")))
		res := runCtl(t, f, "flip", "--force")
		if res.code != exitUsage || res.stderr != "switchctl: flip: several services configured (a, b): name one\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests, want only the list", n)
		}
	})
	t.Run("none", func(t *testing.T) {
		f := newFake(t).on("GET /v1/services", jsonReply(200, api.ServiceList{}))
		res := runCtl(t, f, "rollback")
		if res.code != exitFailed || res.stderr != "switchctl: rollback: no services configured\n" {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestUnixSocket(t *testing.T) {
	f := newUnixFake(t).on("GET /v1/services/app", jsonReply(200, appService()))
	res := runCtl(t, f, "status", "app")
	if res.code != 0 || !strings.HasPrefix(res.stdout, statusTable) {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Host != "switchd" {
		t.Errorf("requests %+v, want one with Host switchd", reqs)
	}
	// unix:///path is the same socket.
	f.addr = "unix://" + strings.TrimPrefix(f.addr, "unix:")
	if res := runCtl(t, f, "status", "app"); res.code != 0 {
		t.Errorf("%s: exit %d, stderr %q", f.addr, res.code, res.stderr)
	}
}

func TestEnvironment(t *testing.T) {
	f := newFake(t).on("GET /v1/services", jsonReply(200, listOf("app")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := map[string]string{"SWITCHD_ADDR": f.addr, "SWITCHD_TOKEN": "from-env"}

	res := runCtlCtx(ctx, t, nil, env, testOptions, "status")
	if res.code != 0 || f.requests()[0].Auth != "Bearer from-env" {
		t.Errorf("exit %d (%s), requests %+v", res.code, res.stderr, f.requests())
	}
	// Flags win over the environment.
	env["SWITCHD_ADDR"] = "http://" + closedAddr(t)
	res = runCtlCtx(ctx, t, nil, env, testOptions, "status", "--addr", f.addr, "--token", "from-flag")
	if reqs := f.requests(); res.code != 0 || reqs[len(reqs)-1].Auth != "Bearer from-flag" {
		t.Errorf("exit %d (%s), requests %+v", res.code, res.stderr, reqs)
	}
}

func TestTimeout(t *testing.T) {
	f := newFake(t).on("GET /v1/services", reply{fn: func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	}})
	start := time.Now()
	res := runCtl(t, f, "status", "--timeout", "200ms")
	if res.code != exitTimeout || res.stderr != "switchctl: status: timed out after 200ms\n" {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestInterrupted(t *testing.T) {
	f := newFake(t).on("GET /v1/services", reply{fn: func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res := runCtlCtx(ctx, t, f, nil, testOptions, "status")
	if res.code != exitFailed || res.stderr != "switchctl: status: interrupted\n" {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func parseQuery(t *testing.T, raw string) map[string]string {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("query %q: %v", raw, err)
	}
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	return m
}
