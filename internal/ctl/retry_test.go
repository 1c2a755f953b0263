package ctl

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchd/switchd/control/api"
)

func TestRetryStatus(t *testing.T) {
	unavailable := reply{status: 503, body: "starting"}
	tests := []struct {
		name     string
		args     []string
		route    string
		replies  []reply
		wantCode int
		wantReqs int
	}{
		{"get after two 503", []string{"status"}, "GET /v1/services",
			[]reply{unavailable, unavailable, jsonReply(200, listOf("app"))}, 0, 3},
		{"get after 502 and 504", []string{"status"}, "GET /v1/services",
			[]reply{{status: 502}, {status: 504}, jsonReply(200, listOf("app"))}, 0, 3},
		{"get gives up", []string{"status"}, "GET /v1/services",
			[]reply{unavailable}, exitFailed, testOptions.retryMax + 1},
		{"get not after 500", []string{"status"}, "GET /v1/services",
			[]reply{errReply(500, api.CodeInternal, "boom"), jsonReply(200, listOf("app"))}, exitFailed, 1},
		{"post after two 503", []string{"flip", "app", "--reason", "deploy 4f2a"}, "POST /v1/services/app/flip",
			[]reply{unavailable, unavailable, jsonReply(200, changed("blue", "green", 8))}, 0, 3},
		// A 502 may come from a proxy after switchd flipped: never repeat.
		{"post not after 502", []string{"flip", "app", "--reason", "deploy 4f2a"}, "POST /v1/services/app/flip",
			[]reply{{status: 502}, jsonReply(200, changed("blue", "green", 8))}, exitFailed, 1},
		{"post not after 504", []string{"set", "app", "green"}, "POST /v1/services/app/activate",
			[]reply{{status: 504}, jsonReply(200, changed("blue", "green", 8))}, exitFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t).on(tt.route, tt.replies...)
			res := runCtl(t, f, tt.args...)
			if res.code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", res.code, tt.wantCode, res.stderr)
			}
			reqs := f.requests()
			if len(reqs) != tt.wantReqs {
				t.Fatalf("%d requests, want %d", len(reqs), tt.wantReqs)
			}
			// Every try carries the whole body again.
			for _, r := range reqs[1:] {
				if r.Body != reqs[0].Body || r.Auth != reqs[0].Auth {
					t.Errorf("retry sent body %q, first try %q", r.Body, reqs[0].Body)
				}
			}
			if strings.HasPrefix(tt.route, "POST") && decodeBody(t, reqs[len(reqs)-1].Body) == nil {
				t.Error("POST sent no body")
			}
			if tt.wantCode == 0 && res.stderr != "" {
				t.Errorf("retries were reported: %q", res.stderr)
			}
			if tt.wantCode != 0 && strings.Count(res.stderr, "\n") != 1 {
				t.Errorf("want one line of error, got %q", res.stderr)
			}
		})
	}
}

// listenLater starts a fake on addr after delay, as switchd coming back
// from a restart.
func listenLater(t *testing.T, addr string, delay time.Duration) *fakeAPI {
	t.Helper()
	f := &fakeAPI{routes: map[string][]reply{}, addr: "http://" + addr}
	srv := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	timer := time.AfterFunc(delay, func() {
		defer wg.Done()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(ln)
		}()
	})
	t.Cleanup(func() {
		if timer.Stop() {
			wg.Done()
		}
		srv.Close()
		wg.Wait()
	})
	return f
}

func TestRetryConnectionRefused(t *testing.T) {
	// Backoff 100, 200, 400, 400 ms: the server is back at 300 ms, before
	// the tries run out.
	opts := testOptions
	opts.retryWaitMin, opts.retryWaitMax = 100*time.Millisecond, 400*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		args  []string
		route string
		rep   reply
	}{
		{[]string{"status"}, "GET /v1/services", jsonReply(200, listOf("app"))},
		// Refused means never sent, so a mutation is tried again too.
		{[]string{"flip", "app", "--reason", "after restart"}, "POST /v1/services/app/flip", jsonReply(200, changed("blue", "green", 8))},
	} {
		f := listenLater(t, closedAddr(t), 300*time.Millisecond).on(tc.route, tc.rep)
		start := time.Now()
		res := runCtlCtx(ctx, t, f, nil, opts, tc.args...)
		if res.code != 0 || res.stderr != "" {
			t.Errorf("%q: exit %d, stderr %q", tc.args, res.code, res.stderr)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("%q: done after %s, before the server listened", tc.args, d)
		}
		if reqs := f.requests(); len(reqs) != 1 || (tc.route[0] == 'P' && decodeBody(t, reqs[0].Body)["reason"] != "after restart") {
			t.Errorf("%q: server saw %+v", tc.args, reqs)
		}
	}
}

func TestUnreachable(t *testing.T) {
	addr := closedAddr(t)
	start := time.Now()
	res := runCtl(t, nil, "--addr", addr, "flip", "app")
	if res.code != exitFailed {
		t.Errorf("exit %d, want %d", res.code, exitFailed)
	}
	want := "switchctl: flip app: cannot reach switchd at " + addr + " (5 tries): dial tcp " + addr + ": connect: connection refused\n"
	if res.stderr != want {
		t.Errorf("stderr %q\nwant   %q", res.stderr, want)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}

	// A deadline shorter than the next backoff ends the retries at once,
	// with the real reason rather than "timed out".
	opts := testOptions
	opts.retryWaitMin, opts.retryWaitMax = 5*time.Second, 5*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start = time.Now()
	res = runCtlCtx(ctx, t, nil, nil, opts, "--addr", "http://"+addr, "--timeout", "1s", "status")
	if res.code != exitFailed || !strings.Contains(res.stderr, "connection refused") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("took %s: slept past the deadline", d)
	}
}

// TestUnreachableDefaults: with the shipped retry settings, a switchd that
// is not there is reported, naming the address, in under 3 s — yet a
// restart that leaves the port closed for 300 ms is ridden out.
func TestUnreachableDefaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := closedAddr(t)
	start := time.Now()
	res := runCtlCtx(ctx, t, nil, nil, defaultOptions, "--addr", addr, "status")
	took := time.Since(start)
	if res.code != exitFailed || !strings.Contains(res.stderr, "cannot reach switchd at "+addr) {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	if took >= 3*time.Second {
		t.Errorf("gave up after %s, want under 3s", took)
	}
	t.Logf("unreachable reported after %s", took)

	f := listenLater(t, closedAddr(t), 300*time.Millisecond).on("GET /v1/services", jsonReply(200, listOf("app")))
	if res := runCtlCtx(ctx, t, f, nil, defaultOptions, "status"); res.code != 0 {
		t.Errorf("a 300 ms restart: exit %d, stderr %q", res.code, res.stderr)
	}
}
