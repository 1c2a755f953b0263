package ctl

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/control/api"
)

func waited(reached string) reply {
	s := appService()
	s.Generation = 8
	return jsonReply(200, api.WaitResult{Reached: reached, Service: s})
}

func TestWait(t *testing.T) {
	timeout := errReply(408, api.CodeTimeout, "app: green: 1 of 2 upstreams healthy after 30s")
	reverted := errReply(409, api.CodeReverted, "app: guard reverted green → blue: 12.5% errors over 10s (40 requests)")
	tests := []struct {
		name       string
		args       []string
		replies    []reply
		wantCode   int
		wantStdout string
		wantStderr string
		wantReqs   int // at least
		until      string
	}{
		{"healthy", []string{"wait", "app", "healthy", "green"}, []reply{waited("healthy:green")},
			0, "app: green healthy (2/2 up)\n", "", 1, "healthy:green"},
		{"drained", []string{"wait", "app", "drained", "green"}, []reply{waited("drained:green")},
			0, "app: green drained (3 in flight)\n", "", 1, "drained:green"},
		{"stable", []string{"wait", "app", "stable"}, []reply{waited("stable")},
			0, "app: green stable (generation 8)\n", "", 1, "stable"},
		// The server capped each poll; we ask again until it is reached.
		{"loops on 408", []string{"wait", "app", "healthy", "green"}, []reply{timeout, timeout, waited("healthy:green")},
			0, "app: green healthy (2/2 up)\n", "", 3, "healthy:green"},
		{"reverted", []string{"wait", "app", "stable"}, []reply{reverted},
			exitReverted, "", "switchctl: wait app: guard reverted green → blue: 12.5% errors over 10s (40 requests)\n", 1, "stable"},
		{"times out", []string{"wait", "app", "healthy", "green", "--timeout", "300ms"}, []reply{timeout},
			exitTimeout, "", "switchctl: wait app: green: 1 of 2 upstreams healthy after 30s\n", 2, "healthy:green"},
		{"unknown service", []string{"wait", "app", "stable"}, []reply{errReply(404, api.CodeNotFound, `unknown service "app"`)},
			exitFailed, "", "switchctl: wait app: unknown service \"app\"\n", 1, "stable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t).on("GET /v1/services/app/wait", tt.replies...)
			res := runCtl(t, f, tt.args...)
			if res.code != tt.wantCode || res.stdout != tt.wantStdout || res.stderr != tt.wantStderr {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant %d, %q, %q", res.code, res.stdout, res.stderr,
					tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
			reqs := f.requests()
			if len(reqs) < tt.wantReqs {
				t.Fatalf("%d requests, want at least %d", len(reqs), tt.wantReqs)
			}
			var last time.Duration = 1 << 62
			for _, r := range reqs {
				q := parseQuery(t, r.Query)
				d, err := time.ParseDuration(q["timeout"])
				if q["until"] != tt.until || err != nil {
					t.Errorf("query %q", r.Query)
				}
				// Each poll asks for what is left of the overall deadline.
				if d >= last || d > 60*time.Second {
					t.Errorf("poll asked for %s after %s", d, last)
				}
				last = d
			}
		})
	}
}

func TestWaitOwnDeadline(t *testing.T) {
	// A server that never answers within our deadline: our own timeout.
	f := newFake(t).on("GET /v1/services/app/wait", reply{fn: func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}})
	res := runCtl(t, f, "wait", "app", "stable", "--timeout", "200ms")
	if res.code != exitTimeout || res.stderr != "switchctl: wait app: timed out after 200ms\n" {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestFlipWaitStable(t *testing.T) {
	flipped := jsonReply(200, changed("blue", "green", 8))
	tests := []struct {
		name       string
		args       []string
		wait       []reply
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"stable", []string{"flip", "app", "--wait-stable"}, []reply{waited("stable")}, 0,
			"app: blue → green (generation 8)\napp: green stable (generation 8)\n", ""},
		{"reverted", []string{"flip", "--wait-stable", "app"},
			[]reply{errReply(409, api.CodeReverted, "app: guard reverted green → blue: 12.5% errors over 10s")},
			exitReverted, "app: blue → green (generation 8)\n", "switchctl: flip app: guard reverted green → blue: 12.5% errors over 10s\n"},
		{"times out", []string{"flip", "app", "--wait-stable", "--timeout", "300ms"},
			[]reply{errReply(408, api.CodeTimeout, "app: guard still watching green")},
			exitTimeout, "app: blue → green (generation 8)\n", "switchctl: flip app: guard still watching green\n"},
		{"json prints the revert", []string{"flip", "app", "--wait-stable", "--json"},
			[]reply{errReply(409, api.CodeReverted, "app: guard reverted green → blue")},
			exitReverted, indented(api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeReverted, Message: "app: guard reverted green → blue"}}),
			"switchctl: flip app: guard reverted green → blue\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t).on("POST /v1/services/app/flip", flipped).on("GET /v1/services/app/wait", tt.wait...)
			res := runCtl(t, f, tt.args...)
			if res.code != tt.wantCode || res.stdout != tt.wantStdout || res.stderr != tt.wantStderr {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant %d, %q, %q", res.code, res.stdout, res.stderr,
					tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
			reqs := f.requests()
			if len(reqs) < 2 || reqs[0].Path != "/v1/services/app/flip" || reqs[1].Path != "/v1/services/app/wait" ||
				parseQuery(t, reqs[1].Query)["until"] != "stable" {
				t.Errorf("requests %+v", reqs)
			}
			if decodeBody(t, reqs[0].Body)["wait_stable"] != nil {
				t.Error("--wait-stable leaked into the request")
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		f := newFake(t).on("POST /v1/services/app/flip", flipped).on("GET /v1/services/app/wait", waited("stable"))
		res := runCtl(t, f, "--json", "flip", "app", "--wait-stable")
		var out struct {
			Change api.ChangeResult
			Wait   api.WaitResult
		}
		dec := json.NewDecoder(strings.NewReader(res.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out); err != nil || res.code != 0 || out.Change.To != "green" || out.Wait.Reached != "stable" {
			t.Errorf("exit %d, stdout %s (%v)", res.code, res.stdout, err)
		}
	})

	t.Run("default deadline is the guard's watch", func(t *testing.T) {
		// Not a fixed minute: the guard watches for ten, and a good flip
		// must not end as "timed out" half-way through the watch.
		res := changed("blue", "green", 8)
		until := time.Now().Add(10 * time.Minute)
		res.Service.Guard = &api.GuardStatus{Enabled: true, ArmedUntil: &until}
		f := newFake(t).on("POST /v1/services/app/flip", jsonReply(200, res)).on("GET /v1/services/app/wait", waited("stable"))
		runCtlCtx(context.Background(), t, f, nil, testOptions, "flip", "app", "--wait-stable")
		d, _ := time.ParseDuration(parseQuery(t, f.requests()[1].Query)["timeout"])
		if d <= 10*time.Minute || d > 10*time.Minute+stableMargin {
			t.Errorf("asked for %s, want the watch's 10m plus at most %s", d, stableMargin)
		}
	})
}
