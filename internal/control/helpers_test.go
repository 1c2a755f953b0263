package control

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
	"github.com/switchd/switchd/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Upstreams of the default test service. No request is sent to them except
// in the tests that put real backends there.
var (
	blueAddrs  = []string{"127.0.0.1:11", "127.0.0.1:12"}
	greenAddrs = []string{"127.0.0.1:1", "127.0.0.1:2"}
)

// fakeTargets and service come from testkit, shared with the other
// packages' tests.
type fakeTargets = testkit.Targets

func newFakeTargets() *fakeTargets { return testkit.NewTargets() }

var service = testkit.Service

// fakeGuard answers Stability and Status as the test sets them.
type fakeGuard struct {
	mu        sync.Mutex
	stability string
	status    *GuardStatus
}

func (g *fakeGuard) set(stability string) {
	g.mu.Lock()
	g.stability = stability
	g.mu.Unlock()
}

func (g *fakeGuard) Stability(string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stability
}

func (g *fakeGuard) Status(string) *GuardStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status
}

type fixture struct {
	dir     string
	targets *fakeTargets
	board   *switchboard.Board
	api     *Server
	srv     *httptest.Server
}

type fixtureOptions struct {
	services []config.Service // default: "app" with two blue, two green upstreams
	targets  *fakeTargets     // default: every upstream of "app" Up
	guard    Guard
	tokens   *Tokens
	reload   func(context.Context) error
	upgrade  func() error
	level    *zap.AtomicLevel
	logger   *zap.Logger                         // default: none
	edit     func(*Options)                      // last word on the server's options
	serve    func(http.Handler) *httptest.Server // default: httptest.NewServer
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	if o.services == nil {
		o.services = []config.Service{service("app", blueAddrs, greenAddrs)}
	}
	if o.targets == nil {
		o.targets = newFakeTargets()
		o.targets.Up("app", blueAddrs...)
		o.targets.Up("app", greenAddrs...)
	}
	dir := t.TempDir()
	store, file, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := switchboard.New(&config.Config{Services: o.services},
		switchboard.Options{Store: store, State: file, Targets: o.targets})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	opts := Options{Board: b, Version: "v1.2.3-test", Tokens: o.tokens, Reload: o.reload, Upgrade: o.upgrade, Level: o.level}
	if o.guard != nil {
		opts.Guard = o.guard
	}
	opts.Logger = o.logger
	if o.edit != nil {
		o.edit(&opts)
	}
	api := New(opts)
	if o.serve == nil {
		o.serve = httptest.NewServer
	}
	srv := o.serve(api.Handler())
	t.Cleanup(srv.Close)
	return &fixture{dir: dir, targets: o.targets, board: b, api: api, srv: srv}
}

// do sends one request and returns the status and body.
func (f *fixture) do(t *testing.T, method, path, body string, hdr ...string) (int, []byte) {
	t.Helper()
	code, data, _ := f.send(t, method, path, body, hdr...)
	return code, data
}

// doHeader is do without a body, returning the answer's header too.
func (f *fixture) doHeader(t *testing.T, method, path string, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	return f.send(t, method, path, "", hdr...)
}

func (f *fixture) send(t *testing.T, method, path, body string, hdr ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if mutating(method) {
		req.Header.Set("Content-Type", "application/json") // as switchctl sends
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // the client ignores Header["Host"]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Everything answers JSON but the status page itself.
	page := path == "/" && resp.StatusCode == http.StatusOK
	if ct := resp.Header.Get("Content-Type"); method != "HEAD" && ct != "application/json" && !page {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, data, resp.Header
}

// wantError checks an error answer: status, code and (unless "") message.
func wantError(t *testing.T, status int, body []byte, wantStatus int, code, msg string) ErrorDetail {
	t.Helper()
	var eb ErrorBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if status != wantStatus || eb.Error.Code != code {
		t.Errorf("got %d %q (%s), want %d %q", status, eb.Error.Code, eb.Error.Message, wantStatus, code)
	}
	if eb.Error.Message == "" {
		t.Error("error without a message")
	}
	if msg != "" && eb.Error.Message != msg {
		t.Errorf("message:\n got %q\nwant %q", eb.Error.Message, msg)
	}
	return eb.Error
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v
}

func (f *fixture) record(t *testing.T) state.Record {
	t.Helper()
	v, ok := f.board.View("app")
	if !ok {
		t.Fatal("no service app")
	}
	return v.Record
}
