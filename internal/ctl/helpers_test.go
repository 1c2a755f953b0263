package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/control/api"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOptions keep retries and pauses short; the shapes are those of
// defaultOptions.
var testOptions = options{
	retryMax:       4,
	retryWaitMin:   20 * time.Millisecond,
	retryWaitMax:   100 * time.Millisecond,
	reconnectDelay: 20 * time.Millisecond,
	waitPause:      10 * time.Millisecond,
}

// seen is a request as the fake control server received it.
type seen struct {
	Method, Path, Query string
	Auth, LastEventID   string
	Host, ContentType   string
	Body                string
}

// reply is one canned answer; fn, when set, answers instead.
type reply struct {
	status int
	body   string
	fn     http.HandlerFunc
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return reply{status: status, body: string(b)}
}

func errReply(status int, code, msg string) reply {
	return jsonReply(status, api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: msg}})
}

// fakeAPI is a control server answering canned replies per "METHOD /path";
// the replies of a route are used in turn and the last one repeats.
type fakeAPI struct {
	mu     sync.Mutex
	routes map[string][]reply
	reqs   []seen
	srv    *httptest.Server
	addr   string // what to pass as --addr
}

func newFake(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{routes: map[string][]reply{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve)) // 127.0.0.1:0
	f.addr = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

func newUnixFake(t *testing.T) *fakeAPI {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{routes: map[string][]reply{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Listener.Close()
	f.srv.Listener = ln
	f.srv.Start()
	f.addr = "unix:" + path
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) on(route string, replies ...reply) *fakeAPI {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = append(f.routes[route], replies...)
	return f
}

func (f *fakeAPI) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), LastEventID: r.Header.Get("Last-Event-ID"),
		Host: r.Host, ContentType: r.Header.Get("Content-Type"), Body: string(body),
	})
	route := r.Method + " " + r.URL.Path
	replies := f.routes[route]
	var rep reply
	switch len(replies) {
	case 0:
		rep = errReply(http.StatusNotFound, api.CodeNotFound, "no route "+route)
	case 1:
		rep = replies[0]
	default:
		rep = replies[0]
		f.routes[route] = replies[1:]
	}
	f.mu.Unlock()
	if rep.fn != nil {
		rep.fn(w, r)
		return
	}
	if strings.HasPrefix(rep.body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

// result is what one switchctl run did.
type result struct {
	code           int
	stdout, stderr string
}

// runCtl runs switchctl against f (nil: no server; --addr then points at a
// closed port) with testOptions, bounded by 10 s.
func runCtl(t *testing.T, f *fakeAPI, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return runCtlCtx(ctx, t, f, nil, testOptions, args...)
}

func runCtlCtx(ctx context.Context, t *testing.T, f *fakeAPI, env map[string]string, opts options, args ...string) result {
	t.Helper()
	if f != nil {
		args = append([]string{"--addr", f.addr}, args...)
	}
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr, opts)
	return result{code, stdout.String(), stderr.String()}
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tp(s string) *time.Time { t := ts(s); return &t }

func upstream(addr, state string) api.Upstream {
	return api.Upstream{
		Address: addr, Healthy: state == "up", State: state,
		Since: tp("2026-11-26T09:00:00Z"), LastCheck: tp("2026-11-26T10:00:01Z"), LastLatencyMS: 1.2,
	}
}

// appService is the example service of docs/control-api.md: green active,
// both pools healthy.
func appService() api.Service {
	return api.Service{
		Name: "app", Hosts: []string{"app.example.com"},
		Active: "green", Previous: "blue", Generation: 7,
		ChangedAt: ts("2026-11-26T10:00:00Z"), ChangedBy: "deployer", Reason: "manual", Detail: "deploy 4f2a",
		Pools: map[string]api.Pool{
			"blue": {Upstreams: []api.Upstream{upstream("10.0.0.11:8080", "up"), upstream("10.0.0.12:8080", "up")},
				Healthy: 2, Total: 2},
			"green": {Upstreams: []api.Upstream{upstream("10.0.0.21:8080", "up"), upstream("10.0.0.22:8080", "up")},
				Healthy: 2, Total: 2, Inflight: 3},
		},
		Guard: &api.GuardStatus{Enabled: true, ArmedUntil: tp("2099-01-01T00:00:00Z"), WindowRequests: 512},
	}
}

func listOf(names ...string) api.ServiceList {
	var l api.ServiceList
	for _, n := range names {
		s := appService()
		s.Name = n
		l.Services = append(l.Services, s)
	}
	return l
}

// changed is the answer to a flip of app from blue to green.
func changed(from, to string, gen uint64) api.ChangeResult {
	s := appService()
	s.Active, s.Previous, s.Generation = to, from, gen
	return api.ChangeResult{Changed: from != to, From: from, To: to, Service: s}
}

func decodeBody(t *testing.T, body string) map[string]any {
	t.Helper()
	if body == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("request body %q: %v", body, err)
	}
	return m
}

// indented is v as switchctl --json prints it.
func indented(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}
