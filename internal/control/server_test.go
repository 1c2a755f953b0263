package control

import (
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
)

// keys fails unless m has every one of want.
func keys(t *testing.T, where string, m map[string]any, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: no %q in %v", where, k, m)
		}
	}
}

func TestGetServiceShape(t *testing.T) {
	tg := newFakeTargets()
	checked := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	tg.Target("app", blueAddrs[0]).Record(nil, 1500*time.Microsecond, checked)
	tg.Target("app", blueAddrs[1]).Record(errors.New("connection refused"), 3*time.Millisecond, checked)
	tg.Up("app", greenAddrs...)
	f := newFixture(t, fixtureOptions{targets: tg})

	status, body := f.do(t, "GET", "/v1/services/app", "")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	m := decode[map[string]any](t, body)
	keys(t, "service", m, "name", "active", "previous", "generation", "changed_at", "changed_by", "reason", "pools")
	if m["name"] != "app" || m["active"] != "blue" || m["previous"] != "" || m["generation"] != 0.0 ||
		m["changed_by"] != "config" || m["reason"] != "initial" {
		t.Errorf("service fields: %v", m)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["changed_at"].(string)); err != nil {
		t.Errorf("changed_at: %v", err)
	}
	if _, ok := m["guard"]; ok {
		t.Error("guard shown without a guard")
	}

	pools := m["pools"].(map[string]any)
	keys(t, "pools", pools, "blue", "green")
	blue := pools["blue"].(map[string]any)
	keys(t, "pools.blue", blue, "upstreams", "healthy", "total", "inflight")
	if blue["healthy"] != 1.0 || blue["total"] != 2.0 || blue["inflight"] != 0.0 {
		t.Errorf("pools.blue: %v", blue)
	}
	ups := blue["upstreams"].([]any)
	if len(ups) != 2 {
		t.Fatalf("pools.blue.upstreams: %v", ups)
	}
	u0, u1 := ups[0].(map[string]any), ups[1].(map[string]any)
	keys(t, "upstream", u0, "address", "healthy", "state", "since", "last_check", "last_latency_ms", "last_error")
	want0 := map[string]any{"address": "127.0.0.1:11", "healthy": true, "state": "up",
		"since": "2026-11-26T10:00:00Z", "last_check": "2026-11-26T10:00:00Z", "last_latency_ms": 1.5, "last_error": ""}
	for k, v := range want0 {
		if u0[k] != v {
			t.Errorf("upstream[0].%s = %#v, want %#v", k, u0[k], v)
		}
	}
	want1 := map[string]any{"address": "127.0.0.1:12", "healthy": false, "state": "down",
		"last_latency_ms": 3.0, "last_error": "connection refused"}
	for k, v := range want1 {
		if u1[k] != v {
			t.Errorf("upstream[1].%s = %#v, want %#v", k, u1[k], v)
		}
	}

	// Never checked: state unknown, times null.
	tg2 := newFakeTargets()
	tg2.Up("app", blueAddrs...)
	f2 := newFixture(t, fixtureOptions{targets: tg2})
	_, body = f2.do(t, "GET", "/v1/services/app", "")
	green := decode[map[string]any](t, body)["pools"].(map[string]any)["green"].(map[string]any)
	g0 := green["upstreams"].([]any)[0].(map[string]any)
	if g0["state"] != "unknown" || g0["healthy"] != false || g0["since"] != nil || g0["last_check"] != nil {
		t.Errorf("unchecked upstream: %v", g0)
	}
	if green["healthy"] != 0.0 || green["total"] != 2.0 {
		t.Errorf("pools.green: %v", green)
	}
}

func TestGetServiceGuard(t *testing.T) {
	armed := time.Date(2026, 11, 26, 10, 10, 0, 0, time.UTC)
	g := &fakeGuard{status: &GuardStatus{Enabled: true, ArmedUntil: &armed, WindowRequests: 512, WindowErrorRate: 0.01}}
	f := newFixture(t, fixtureOptions{guard: g})
	_, body := f.do(t, "GET", "/v1/services/app", "")
	gm, ok := decode[map[string]any](t, body)["guard"].(map[string]any)
	if !ok {
		t.Fatalf("no guard object in %s", body)
	}
	keys(t, "guard", gm, "armed_until", "window_requests", "window_error_rate", "last_trip")
	if gm["armed_until"] != "2026-11-26T10:10:00Z" || gm["window_requests"] != 512.0 || gm["last_trip"] != nil {
		t.Errorf("guard: %v", gm)
	}
}

func TestListServices(t *testing.T) {
	b := service("b", blueAddrs, nil)
	b.Hosts = []string{"b.example.com"}
	a := service("a", blueAddrs, greenAddrs)
	f := newFixture(t, fixtureOptions{services: []config.Service{b, a}})
	status, body := f.do(t, "GET", "/v1/services", "")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	l := decode[ServiceList](t, body)
	if len(l.Services) != 2 || l.Services[0].Name != "b" || l.Services[1].Name != "a" {
		t.Fatalf("services %+v, want b then a", l.Services)
	}
	if got := l.Services[0].Hosts; len(got) != 1 || got[0] != "b.example.com" {
		t.Errorf("hosts %v", got)
	}
	if l.Services[1].Hosts == nil || !strings.Contains(string(body), `"hosts": []`) {
		t.Errorf("a default service's hosts should be [], not null")
	}
	if p := l.Services[0].Pools["green"]; p.Total != 0 || p.Upstreams == nil || p.Panic {
		t.Errorf("empty pool %+v", p)
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/services/nope", ""},
		{"POST", "/v1/services/nope/flip", ""},
		{"POST", "/v1/services/nope/flip", `{"reason":"x"}`},
		{"POST", "/v1/services/nope/activate", `{"color":"green"}`},
		{"POST", "/v1/services/nope/rollback", ""},
		{"GET", "/v1/services/nope/wait?until=healthy:green&timeout=1s", ""},
		{"GET", "/v1/nothing", ""},
		{"GET", "/v1/services/app/nothing", ""},
	} {
		status, body := f.do(t, tc.method, tc.path, tc.body)
		wantError(t, status, body, http.StatusNotFound, CodeNotFound, "")
	}
	status, body := f.do(t, "POST", "/v1/services/nope/flip", "")
	wantError(t, status, body, 404, CodeNotFound, `unknown service "nope"`)
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	before := f.record(t)
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/v1/services/app/flip", "POST"},
		{"GET", "/v1/services/app/activate?color=green", "POST"},
		{"GET", "/v1/services/app/rollback", "POST"},
		{"HEAD", "/v1/services/app/flip", "POST"},
		{"PUT", "/v1/services/app/flip", "POST"},
		{"POST", "/v1/services/app", "GET"},
		{"DELETE", "/v1/services/app", "GET"},
		{"POST", "/v1/services", "GET"},
		{"POST", "/v1/services/app/wait?until=healthy:green", "GET"},
		{"POST", "/healthz", "GET"},
	} {
		req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, nil)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
		}
		if tc.method != "HEAD" {
			wantError(t, resp.StatusCode, body, 405, CodeMethod, "")
		}
	}
	if after := f.record(t); !reflect.DeepEqual(after, before) {
		t.Errorf("a wrong method changed the state: %+v -> %+v", before, after)
	}
	// HEAD of a GET endpoint is fine.
	req, _ := http.NewRequest("HEAD", f.srv.URL+"/v1/services/app", nil)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD /v1/services/app: %d", resp.StatusCode)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, tc := range []struct {
		name, path, body, msg string // msg: a part of the message
	}{
		{"syntax", "flip", `{`, "bad JSON body"},
		{"not an object", "flip", `[]`, "bad JSON body"},
		{"string", "flip", `"flip"`, "bad JSON body"},
		{"unknown field", "flip", `{"forse":true}`, `unknown field "forse"`},
		{"wrong type", "flip", `{"force":"yes"}`, "bad JSON body"},
		{"negative generation", "flip", `{"expect_generation":-1}`, "bad JSON body"},
		{"fractional generation", "flip", `{"expect_generation":1.5}`, "bad JSON body"},
		{"trailing garbage", "flip", `{} x`, "bad JSON body"},
		{"two values", "flip", `{}{}`, "bad JSON body"},
		{"trailing brace", "flip", `{}}`, "bad JSON body"},
		{"trailing bracket", "flip", "{}\n]", "bad JSON body"},
		{"bad expect", "flip", `{"expect":"purple"}`, `expect: bad colour "purple"`},
		{"expect case", "flip", `{"expect":"Blue"}`, `expect: bad colour "Blue"`},
		{"colour on flip", "flip", `{"color":"green"}`, "only activate takes a colour"},
		{"colour on rollback", "rollback", `{"color":"green"}`, "only activate takes a colour"},
		{"activate without colour", "activate", ``, "color: required"},
		{"activate empty colour", "activate", `{"color":""}`, "color: required"},
		{"activate bad colour", "activate", `{"color":"red"}`, `color: bad colour "red"`},
		{"long reason", "flip", `{"reason":"` + strings.Repeat("x", 1025) + `"}`, "reason: longer than 1024 bytes"},
		{"huge body", "flip", `{"reason":"` + strings.Repeat("x", 70000) + `"}`, "body larger than"},
		{"only unicode space", "flip", "\u00a0", "bad JSON body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.record(t)
			status, body := f.do(t, "POST", "/v1/services/app/"+tc.path, tc.body)
			e := wantError(t, status, body, http.StatusBadRequest, CodeBadRequest, "")
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q, want it to say %q", e.Message, tc.msg)
			}
			if after := f.record(t); !reflect.DeepEqual(after, before) {
				t.Errorf("a bad request changed the state: %+v -> %+v", before, after)
			}
		})
	}
	// Whitespace alone is an empty request.
	status, body := f.do(t, "POST", "/v1/services/app/flip", " \r\n\t")
	if status != 200 {
		t.Errorf("whitespace body: %d %s", status, body)
	}
}

func TestFlip(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	status, body := f.do(t, "POST", "/v1/services/app/flip", `{"expect":"blue","expect_generation":0,"reason":"deploy 4f2a"}`,
		"X-Switchd-Actor", "deployer")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	r := decode[ChangeResult](t, body)
	if !r.Changed || r.From != "blue" || r.To != "green" || r.Service.Active != "green" || r.Service.Previous != "blue" ||
		r.Service.Generation != 1 || r.Service.ChangedBy != "deployer" || r.Service.Reason != "manual" || r.Service.Detail != "deploy 4f2a" {
		t.Errorf("result %+v", r)
	}
	m := decode[map[string]any](t, body)
	keys(t, "result", m, "changed", "from", "to", "service")

	// Persisted before the answer.
	_, file, err := state.Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec := file.Services["app"]; rec.Active != config.Green || rec.ChangedBy != "deployer" || rec.Detail != "deploy 4f2a" {
		t.Errorf("state.json %+v", rec)
	}

	// GET shows the same; no actor header gives "api".
	_, body = f.do(t, "GET", "/v1/services/app", "")
	if s := decode[Service](t, body); s.Active != "green" || s.ChangedBy != "deployer" || s.Generation != 1 {
		t.Errorf("GET after flip: %+v", s)
	}
	_, body = f.do(t, "POST", "/v1/services/app/flip", "")
	if s := decode[ChangeResult](t, body).Service; s.ChangedBy != "api" || s.Active != "blue" {
		t.Errorf("flip without actor: %+v", s)
	}
	// A header with a line break or too long is not taken.
	_, body = f.do(t, "POST", "/v1/services/app/flip", "", "X-Switchd-Actor", strings.Repeat("a", 65))
	if s := decode[ChangeResult](t, body).Service; s.ChangedBy != "api" {
		t.Errorf("overlong actor taken: %q", s.ChangedBy)
	}
}

func TestRefusals(t *testing.T) {
	refused := errors.New("connection refused")
	t.Run("conflict", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{})
		status, body := f.do(t, "POST", "/v1/services/app/flip", `{"expect":"green"}`)
		wantError(t, status, body, 409, CodeConflict, "app: expected green active, but blue is (generation 0)")
		status, body = f.do(t, "POST", "/v1/services/app/flip", `{"expect_generation":3}`)
		wantError(t, status, body, 409, CodeConflict, "app: expected generation 3, but it is 0")
		if g := f.record(t).Generation; g != 0 {
			t.Errorf("generation %d", g)
		}
	})
	t.Run("target_unhealthy", func(t *testing.T) {
		tg := newFakeTargets()
		tg.Up("app", blueAddrs...)
		tg.Down("app", refused, greenAddrs[0])
		f := newFixture(t, fixtureOptions{targets: tg})
		status, body := f.do(t, "POST", "/v1/services/app/flip", "")
		wantError(t, status, body, 409, CodeTargetUnhealthy,
			"green: 0 of 2 upstreams healthy, 2 needed (127.0.0.1:1: connection refused, 127.0.0.1:2: not checked yet)")
		status, body = f.do(t, "POST", "/v1/services/app/activate", `{"color":"green"}`)
		wantError(t, status, body, 409, CodeTargetUnhealthy, "")
		if a := f.record(t).Active; a != config.Blue {
			t.Errorf("active %v", a)
		}
		// force passes and is shown.
		status, body = f.do(t, "POST", "/v1/services/app/flip", `{"force":true}`)
		if status != 200 {
			t.Fatalf("forced: %d %s", status, body)
		}
		if s := decode[ChangeResult](t, body).Service; !s.Forced || s.Active != "green" {
			t.Errorf("forced flip: %+v", s)
		}
	})
	t.Run("target_empty", func(t *testing.T) {
		tg := newFakeTargets()
		tg.Up("app", blueAddrs...)
		f := newFixture(t, fixtureOptions{targets: tg, services: []config.Service{service("app", blueAddrs, nil)}})
		status, body := f.do(t, "POST", "/v1/services/app/flip", `{"force":true}`)
		wantError(t, status, body, 409, CodeTargetEmpty, "app: green has no upstreams")
	})
	t.Run("no_previous", func(t *testing.T) {
		f := newFixture(t, fixtureOptions{})
		status, body := f.do(t, "POST", "/v1/services/app/rollback", "")
		wantError(t, status, body, 409, CodeNoPrevious, "app: no previous colour to roll back to")
		// After a flip, rollback goes back with reason rollback.
		if status, body := f.do(t, "POST", "/v1/services/app/flip", ""); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		status, body = f.do(t, "POST", "/v1/services/app/rollback", `{"reason":"bad deploy"}`, "X-Switchd-Actor", "oncall")
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		r := decode[ChangeResult](t, body)
		if r.From != "green" || r.To != "blue" || r.Service.Reason != "rollback" || r.Service.ChangedBy != "oncall" || r.Service.Generation != 2 {
			t.Errorf("rollback: %+v", r)
		}
	})
}

func TestActivateIdempotent(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	status, body := f.do(t, "POST", "/v1/services/app/activate", `{"color":"green","reason":"go"}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if r := decode[ChangeResult](t, body); !r.Changed || r.To != "green" || r.Service.Generation != 1 {
		t.Errorf("first activate %+v", r)
	}
	for range 2 {
		status, body = f.do(t, "POST", "/v1/services/app/activate", `{"color":"green"}`, "X-Switchd-Actor", "other")
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		m := decode[map[string]any](t, body)
		if m["changed"] != false || m["from"] != "green" || m["to"] != "green" {
			t.Errorf("second activate %v", m)
		}
		if r := decode[ChangeResult](t, body); r.Service.Generation != 1 || r.Service.ChangedBy != "api" || r.Service.Detail != "go" {
			t.Errorf("second activate changed the record: %+v", r.Service)
		}
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	status, body := f.do(t, "GET", "/healthz", "")
	if status != 200 {
		t.Fatalf("%d", status)
	}
	if h := decode[map[string]any](t, body); h["status"] != "ok" || h["version"] != "v1.2.3-test" {
		t.Errorf("healthz %v", h)
	}
}

func TestOptionalEndpoints(t *testing.T) {
	// Metrics, events and reload are off without their handlers.
	f := newFixture(t, fixtureOptions{})
	for _, p := range []string{"/metrics", "/v1/events"} {
		status, body := f.do(t, "GET", p, "")
		wantError(t, status, body, 404, CodeNotFound, "")
	}
	status, body := f.do(t, "POST", "/v1/reload", "")
	wantError(t, status, body, 404, CodeNotFound, "")
}

// TestUpgradeEndpoint: POST /v1/upgrade reports a new process that did not
// start as 500 upgrade_failed with the reason; without an upgrader it is 404.
func TestUpgradeEndpoint(t *testing.T) {
	f := newFixture(t, fixtureOptions{upgrade: func() error {
		return errors.New("upgrade failed, the running process keeps serving: child pid=7 exited: exit status 1")
	}})
	code, body := f.do(t, "POST", "/v1/upgrade", "")
	if e := decode[ErrorBody](t, body); code != 500 || e.Error.Code != CodeUpgradeFailed || !strings.Contains(e.Error.Message, "exit status 1") {
		t.Fatalf("failed upgrade: %d %s", code, body)
	}
	if code, body := newFixture(t, fixtureOptions{}).do(t, "POST", "/v1/upgrade", ""); code != 404 {
		t.Fatalf("without upgrades: %d %s", code, body)
	}
}
