package guard

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeSwitcher behaves like the switchboard: Counts returns set counts
// (both colours start 2 of 2 up), and a Revert that succeeds tells the
// guard of its change before returning.
type fakeSwitcher struct {
	mu     sync.Mutex
	g      *Guard
	clk    *fakeClock
	counts map[config.Color][3]int
	gen    uint64
	err    error
	calls  []revertCall
	// during runs inside Revert (before the change is told), to simulate
	// races.
	during func()
}

type revertCall struct {
	service  string
	from, to config.Color
	reason   switchboard.Reason
	detail   string
}

func (s *fakeSwitcher) Counts(_ string, c config.Color) (up, down, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.counts[c]
	return v[0], v[1], v[2]
}

func (s *fakeSwitcher) set(c config.Color, up, down, total int) {
	s.mu.Lock()
	s.counts[c] = [3]int{up, down, total}
	s.mu.Unlock()
}

// change tells the guard of a change to c made by someone else.
func (s *fakeSwitcher) change(c switchboard.Change) {
	s.mu.Lock()
	s.gen++
	c.Service, c.Generation = "app", s.gen
	s.mu.Unlock()
	if c.At.IsZero() {
		c.At = s.clk.Now()
	}
	s.g.Changed(c)
}

func (s *fakeSwitcher) Revert(service string, from, to config.Color, reason switchboard.Reason, detail string) (switchboard.Change, error) {
	s.mu.Lock()
	s.calls = append(s.calls, revertCall{service, from, to, reason, detail})
	err, during := s.err, s.during
	s.mu.Unlock()
	// Proves Revert is called without the guard's lock held.
	_ = s.g.Status(service)
	if during != nil {
		during()
	}
	if err != nil {
		return switchboard.Change{}, err
	}
	s.mu.Lock()
	s.gen++
	c := switchboard.Change{Service: service, From: from, To: to, Generation: s.gen, Reason: reason,
		Actor: "guard", Detail: detail, At: s.clk.Now(), Changed: true}
	s.mu.Unlock()
	s.g.Changed(c)
	return c, nil
}

func (s *fakeSwitcher) reverts() []revertCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]revertCall(nil), s.calls...)
}

type fakeEvents struct {
	mu    sync.Mutex
	calls []revertCall
}

func (e *fakeEvents) GuardBlocked(service string, from, to config.Color, reason switchboard.Reason, detail string) {
	e.mu.Lock()
	e.calls = append(e.calls, revertCall{service, from, to, reason, detail})
	e.mu.Unlock()
}

func (e *fakeEvents) blocked() []revertCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]revertCall(nil), e.calls...)
}

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func defaultCfg() config.Guard {
	return config.Guard{
		Enabled:      true,
		Window:       config.Duration(10 * time.Second),
		MaxErrorRate: 0.05,
		MinRequests:  20,
		Watch:        config.Watch{For: 10 * time.Minute},
		Failover:     true,
	}
}

var allOf = config.MinHealthy{Percent: true, Pct: 100}

type harness struct {
	g    *Guard
	clk  *fakeClock
	sw   *fakeSwitcher
	ev   *fakeEvents
	logs *observer.ObservedLogs
	svc  *Service
}

func newHarness(t *testing.T, cfg config.Guard, minHealthy config.MinHealthy) *harness {
	t.Helper()
	clk := &fakeClock{t: t0}
	ev := &fakeEvents{}
	core, logs := observer.New(zapcore.DebugLevel)
	g := New(Options{Events: ev, Logger: zap.New(core), now: clk.Now})
	sw := newFakeSwitcher(g, clk)
	g.Configure("app", cfg, minHealthy)
	return &harness{g: g, clk: clk, sw: sw, ev: ev, logs: logs, svc: g.Service("app")}
}

func newFakeSwitcher(g *Guard, clk *fakeClock) *fakeSwitcher {
	return &fakeSwitcher{g: g, clk: clk, counts: map[config.Color][3]int{config.Blue: {2, 0, 2}, config.Green: {2, 0, 2}}}
}

// flip is a manual flip to c now.
func (x *harness) flip(c config.Color) {
	x.sw.change(switchboard.Change{To: c, From: c.Other(), Reason: switchboard.Manual, Changed: true})
}

func (x *harness) evaluate() { x.g.evaluate(x.sw) }

func (x *harness) record(c config.Color, n, errs int, latency time.Duration) {
	for i := range n {
		x.svc.RecordAt(c, i < errs, latency, x.clk.Now())
	}
}

func TestDecisionTable(t *testing.T) {
	type setup struct {
		cfg        func(*config.Guard)
		minHealthy *config.MinHealthy
		// activate replaces the default manual flip to green at t0.
		activate func(x *harness)
		health   map[config.Color][3]int
		// wait is the time between the activation and the requests.
		wait time.Duration
		// on is the colour the requests go to (default green).
		on           config.Color
		req, errs    int
		latency      time.Duration
		evaluateWait time.Duration // between the requests and the decision
	}
	tests := []struct {
		name string
		s    setup
		want string // "", "guard", "failover" or "blocked"
	}{
		{"no requests", setup{}, ""},
		{"below min_requests", setup{req: 19, errs: 19}, ""},
		{"rate at max trips", setup{req: 20, errs: 1}, "guard"},
		{"rate just below max", setup{req: 21, errs: 1}, ""},
		{"all errors", setup{req: 200, errs: 200}, "guard"},
		{"max_error_rate 0: any error trips", setup{cfg: func(c *config.Guard) { c.MaxErrorRate = 0 }, req: 20, errs: 1}, "guard"},
		{"max_error_rate 0: no error no trip", setup{cfg: func(c *config.Guard) { c.MaxErrorRate = 0 }, req: 20}, ""},
		{"min_requests 0 without requests", setup{cfg: func(c *config.Guard) { c.MinRequests = 0 }}, ""},
		{"min_requests 0 one error", setup{cfg: func(c *config.Guard) { c.MinRequests = 0 }, req: 1, errs: 1}, "guard"},
		{"disabled", setup{cfg: func(c *config.Guard) { c.Enabled = false }, req: 100, errs: 100}, ""},
		{"start-up is not armed", setup{activate: startup(config.Green), req: 100, errs: 100}, ""},
		{"start-up armed with watch always", setup{
			cfg: func(c *config.Guard) { c.Watch = config.Watch{Always: true} }, activate: startup(config.Green),
			req: 100, errs: 100}, "guard"},
		{"watch always long after the flip", setup{
			cfg: func(c *config.Guard) { c.Watch = config.Watch{Always: true} }, wait: 48 * time.Hour,
			req: 100, errs: 100}, "guard"},
		{"inside watch", setup{wait: 9*time.Minute + 59*time.Second, req: 100, errs: 100}, "guard"},
		{"watch over", setup{wait: 10 * time.Minute, req: 100, errs: 100}, ""},
		{"watch 0 never arms", setup{cfg: func(c *config.Guard) { c.Watch = config.Watch{} }, req: 100, errs: 100}, ""},
		{"errors slid out of the window", setup{req: 100, errs: 100, evaluateWait: 10 * time.Second}, ""},
		{"errors still in the window", setup{req: 100, errs: 100, evaluateWait: 9800 * time.Millisecond}, "guard"},
		{"errors on the idle colour", setup{on: config.Blue, req: 100, errs: 100}, ""},
		{"previous colour unhealthy", setup{health: map[config.Color][3]int{config.Blue: {1, 1, 2}}, req: 100, errs: 100}, "blocked"},
		{"previous colour unknown", setup{health: map[config.Color][3]int{config.Blue: {0, 0, 2}}, req: 100, errs: 100}, "blocked"},
		{"previous colour empty", setup{health: map[config.Color][3]int{config.Blue: {0, 0, 0}}, req: 100, errs: 100}, "blocked"},
		{"previous colour meets 50%", setup{
			minHealthy: &config.MinHealthy{Percent: true, Pct: 50},
			health:     map[config.Color][3]int{config.Blue: {1, 1, 2}}, req: 100, errs: 100}, "guard"},
		{"p99 at max_p99", setup{cfg: func(c *config.Guard) { c.MaxP99 = config.Duration(500 * time.Millisecond) },
			req: 20, latency: 800 * time.Millisecond}, "guard"},
		{"p99 below max_p99", setup{cfg: func(c *config.Guard) { c.MaxP99 = config.Duration(500 * time.Millisecond) },
			req: 20, latency: 300 * time.Millisecond}, ""},
		{"p99 below min_requests", setup{cfg: func(c *config.Guard) { c.MaxP99 = config.Duration(500 * time.Millisecond) },
			req: 19, latency: 5 * time.Second}, ""},
		{"p99 off", setup{req: 100, latency: 20 * time.Second}, ""},
		{"failover: all down", setup{activate: startup(config.Green),
			health: map[config.Color][3]int{config.Green: {0, 2, 2}}}, "failover"},
		{"failover: all down, guard disabled", setup{cfg: func(c *config.Guard) { c.Enabled = false },
			health: map[config.Color][3]int{config.Green: {0, 2, 2}}}, "failover"},
		{"failover: unknown is not down", setup{health: map[config.Color][3]int{config.Green: {0, 1, 2}}}, ""},
		{"failover: one up", setup{health: map[config.Color][3]int{config.Green: {1, 1, 2}}}, ""},
		{"failover: empty pool", setup{health: map[config.Color][3]int{config.Green: {0, 0, 0}}}, ""},
		{"failover: off", setup{cfg: func(c *config.Guard) { c.Failover = false },
			health: map[config.Color][3]int{config.Green: {0, 2, 2}}}, ""},
		{"failover: other below min_healthy", setup{
			health: map[config.Color][3]int{config.Green: {0, 2, 2}, config.Blue: {1, 1, 2}}}, ""},
		{"failover: forced, never healthy", setup{activate: forced(config.Green),
			health: map[config.Color][3]int{config.Green: {0, 2, 2}}}, ""},
		{"errors and all down: guard first", setup{
			health: map[config.Color][3]int{config.Green: {0, 2, 2}}, req: 100, errs: 100}, "guard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			cfg := defaultCfg()
			if s.cfg != nil {
				s.cfg(&cfg)
			}
			mh := allOf
			if s.minHealthy != nil {
				mh = *s.minHealthy
			}
			x := newHarness(t, cfg, mh)
			for c, v := range s.health {
				x.sw.set(c, v[0], v[1], v[2])
			}
			if s.activate != nil {
				s.activate(x)
			} else {
				x.flip(config.Green)
			}
			x.clk.Advance(s.wait)
			on := s.on
			if on == config.NoColor {
				on = config.Green
			}
			x.record(on, s.req, s.errs, s.latency)
			x.clk.Advance(s.evaluateWait)
			x.evaluate()

			got := ""
			reverts, blocked := x.sw.reverts(), x.ev.blocked()
			switch {
			case len(reverts) == 1 && len(blocked) == 0:
				got = string(reverts[0].reason)
				if r := reverts[0]; r.from != config.Green || r.to != config.Blue || r.service != "app" {
					t.Errorf("revert %+v, want app green → blue", r)
				}
			case len(reverts) == 0 && len(blocked) == 1:
				got = "blocked"
			case len(reverts) > 1 || len(blocked) > 1 || len(reverts)+len(blocked) > 1:
				t.Fatalf("reverts %+v, blocked %+v", reverts, blocked)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q (reverts %+v, blocked %+v)", got, tt.want, reverts, blocked)
			}
		})
	}
}

func startup(c config.Color) func(*harness) {
	return func(x *harness) { x.sw.change(switchboard.Change{To: c, Reason: switchboard.Initial, Startup: true}) }
}

func forced(c config.Color) func(*harness) {
	return func(x *harness) {
		x.sw.change(switchboard.Change{To: c, From: c.Other(), Reason: switchboard.Manual, Forced: true, Changed: true})
	}
}

func TestTripDetailAndLog(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.flip(config.Green)
	x.record(config.Green, 200, 62, 0)
	x.evaluate()
	r := x.sw.reverts()
	if len(r) != 1 {
		t.Fatalf("reverts = %+v", r)
	}
	if want := "error rate 0.31 >= 0.05 over 10s (62 of 200 requests)"; r[0].detail != want {
		t.Errorf("detail %q, want %q", r[0].detail, want)
	}
	logs := x.logs.FilterMessage("automatic revert").All()
	if len(logs) != 1 || logs[0].Level != zapcore.ErrorLevel {
		t.Fatalf("logs = %+v", x.logs.All())
	}
	f := logs[0].ContextMap()
	if f["rate"] != 0.31 || f["requests"] != int64(200) || f["window"] != 10*time.Second ||
		f["from"] != "green" || f["to"] != "blue" || f["reason"] != "guard" {
		t.Errorf("log fields %v", f)
	}
	st := x.g.Status("app")
	if st.LastTrip == nil || st.LastTrip.Reason != switchboard.Guard || st.LastTrip.Requests != 200 || st.LastTrip.Errors != 62 {
		t.Errorf("LastTrip = %+v", st.LastTrip)
	}
	if st.Active != config.Blue || !st.Latched || st.Armed {
		t.Errorf("status after trip: %+v", st)
	}
}

// After a revert the triggers stay off until the next flip, however long
// and however badly the colour reverted to fails. Failover stays armed: when
// that colour dies entirely and the rejected one is healthy, switchd fails
// over, naming the revert, and is still latched afterwards.
func TestLatch(t *testing.T) {
	cfg := defaultCfg()
	cfg.Watch = config.Watch{Always: true}
	x := newHarness(t, cfg, allOf)
	x.flip(config.Green)
	x.record(config.Green, 100, 100, 0)
	x.evaluate()
	if n := len(x.sw.reverts()); n != 1 {
		t.Fatalf("%d reverts, want 1", n)
	}
	// Blue now fails just as badly: no trigger.
	for range 20 {
		x.clk.Advance(50 * time.Millisecond)
		x.record(config.Blue, 100, 100, 0)
		x.evaluate()
	}
	x.clk.Advance(time.Hour)
	x.record(config.Blue, 100, 100, 0)
	x.evaluate()
	if n := len(x.sw.reverts()); n != 1 {
		t.Fatalf("%d reverts after the latch, want 1", n)
	}
	if st := x.g.Status("app"); !st.Latched || st.Armed || st.Active != config.Blue {
		t.Errorf("status %+v", st)
	}
	// Blue dies; green is healthy: failover, at error level, naming the revert.
	x.sw.set(config.Blue, 0, 2, 2)
	x.evaluate()
	r := x.sw.reverts()
	if len(r) != 2 || r[1].reason != switchboard.Failover || r[1].from != config.Blue || r[1].to != config.Green {
		t.Fatalf("reverts %+v, want a failover blue → green", r)
	}
	want := "all 2 upstreams of blue are down; green has 2 of 2 upstreams up (needs 2); " +
		"blue is active since the guard revert green → blue at 2026-11-26T10:00:00Z " +
		"(error rate 1 >= 0.05 over 10s (100 of 100 requests))"
	if r[1].detail != want {
		t.Errorf("failover detail\n%q, want\n%q", r[1].detail, want)
	}
	logs := x.logs.FilterMessage("automatic revert").All()
	if len(logs) != 2 || logs[1].Level != zapcore.ErrorLevel || logs[1].ContextMap()["reason"] != "failover" {
		t.Errorf("failover logs %+v", logs)
	}
	// Green's errors do not trip the guard again: still latched.
	x.record(config.Green, 100, 100, 0)
	x.evaluate()
	st := x.g.Status("app")
	if n := len(x.sw.reverts()); n != 2 || !st.Latched || st.Active != config.Green ||
		st.Outcome.State != Reverted || st.Outcome.Trip.Reason != switchboard.Failover {
		t.Fatalf("after the failover: %d reverts, status %+v", n, st)
	}
	// The next flip clears the latch.
	x.sw.set(config.Blue, 2, 0, 2)
	x.flip(config.Blue)
	if st := x.g.Status("app"); st.Latched || !st.Armed || !st.ArmedAlways {
		t.Errorf("after a flip: %+v", st)
	}
	x.record(config.Blue, 100, 100, 0)
	x.evaluate()
	if r := x.sw.reverts(); len(r) != 3 || r[2].reason != switchboard.Guard {
		t.Errorf("reverts %+v after the next flip, want a third, by the guard", r)
	}
}

// The revert saw blue up, but blue was dying: once it is known down and
// green healthy, failover moves back to green, and that is the end of it.
func TestRevertOntoADyingColour(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.flip(config.Green)
	x.record(config.Green, 100, 100, 0)
	x.evaluate()
	x.sw.set(config.Blue, 0, 1, 2) // one check failed: not all down yet
	x.evaluate()
	x.sw.set(config.Blue, 0, 2, 2)
	x.evaluate()
	x.record(config.Green, 100, 100, 0) // green still fails, but serves
	for range 5 {
		x.clk.Advance(50 * time.Millisecond)
		x.evaluate()
	}
	r := x.sw.reverts()
	if len(r) != 2 || r[0].reason != switchboard.Guard || r[1].reason != switchboard.Failover || r[1].to != config.Green {
		t.Fatalf("reverts %+v, want the guard's revert and one failover back", r)
	}
	if st := x.g.Status("app"); st.Active != config.Green || !st.Latched {
		t.Errorf("status %+v", st)
	}
}

func TestBlockedOncePerEpisode(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.sw.set(config.Blue, 0, 2, 2)
	x.flip(config.Green)
	x.record(config.Green, 100, 100, 0)
	for range 10 {
		x.evaluate()
		x.clk.Advance(50 * time.Millisecond)
	}
	b := x.ev.blocked()
	if len(b) != 1 || len(x.sw.reverts()) != 0 {
		t.Fatalf("blocked %+v, reverts %+v; want one notice, no revert", b, x.sw.reverts())
	}
	if b[0].reason != switchboard.Guard || b[0].from != config.Green || b[0].to != config.Blue ||
		!strings.Contains(b[0].detail, "blue has 0 of 2 upstreams up (needs 2)") {
		t.Errorf("notice %+v", b[0])
	}
	if l := x.logs.FilterMessage("automatic revert blocked: previous colour unhealthy").All(); len(l) != 1 || l[0].Level != zapcore.ErrorLevel {
		t.Errorf("logs %+v", x.logs.All())
	}
	if st := x.g.Status("app"); st.Blocked == "" || !st.Armed {
		t.Errorf("status %+v: want Blocked set, still armed", st)
	}
	// The errors slide out: the episode ends. New errors: a new episode.
	x.clk.Advance(11 * time.Second)
	x.evaluate()
	x.record(config.Green, 100, 100, 0)
	x.evaluate()
	x.evaluate()
	if n := len(x.ev.blocked()); n != 2 {
		t.Errorf("%d notices after a second episode, want 2", n)
	}
	// Blue recovers while green still fails: now it reverts.
	x.sw.set(config.Blue, 2, 0, 2)
	x.evaluate()
	if r := x.sw.reverts(); len(r) != 1 || r[0].reason != switchboard.Guard {
		t.Errorf("reverts %+v, want one guard revert once blue is healthy", r)
	}
}

func TestForceExemption(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.sw.set(config.Green, 0, 2, 2)
	forced(config.Green)(x)
	for range 5 {
		x.evaluate()
	}
	if r := x.sw.reverts(); len(r) != 0 {
		t.Fatalf("forced colour failed over: %+v", r)
	}
	// Healthy once ...
	x.sw.set(config.Green, 1, 1, 2)
	x.evaluate()
	// ... then down again: no longer exempt.
	x.sw.set(config.Green, 0, 2, 2)
	x.evaluate()
	r := x.sw.reverts()
	if len(r) != 1 || r[0].reason != switchboard.Failover {
		t.Fatalf("reverts %+v, want one failover", r)
	}
	if want := "all 2 upstreams of green are down; blue has 2 of 2 upstreams up (needs 2)"; r[0].detail != want {
		t.Errorf("detail %q, want %q", r[0].detail, want)
	}
	// A flip without force is not exempt.
	x.sw.set(config.Blue, 0, 2, 2)
	x.sw.set(config.Green, 2, 0, 2)
	x.flip(config.Blue)
	x.evaluate()
	if r := x.sw.reverts(); len(r) != 2 || r[1].reason != switchboard.Failover || r[1].to != config.Green {
		t.Errorf("reverts %+v, want a second failover to green", r)
	}
}

// A refused revert is reported once and retried at most every second.
func TestRevertRefused(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.sw.err = errors.New("target colour is unhealthy")
	x.flip(config.Green)
	x.record(config.Green, 100, 100, 0)
	for range 10 { // 500ms
		x.evaluate()
		x.clk.Advance(50 * time.Millisecond)
	}
	if n := len(x.sw.reverts()); n != 1 {
		t.Errorf("%d Revert calls in 500ms, want 1", n)
	}
	b := x.ev.blocked()
	if len(b) != 1 || !strings.Contains(b[0].detail, "revert refused: target colour is unhealthy") {
		t.Errorf("blocked %+v", b)
	}
	x.clk.Advance(time.Second)
	x.sw.mu.Lock()
	x.sw.err = nil
	x.sw.mu.Unlock()
	x.evaluate()
	if n := len(x.sw.reverts()); n != 2 {
		t.Errorf("%d Revert calls after a second, want 2", n)
	}
	if st := x.g.Status("app"); st.Active != config.Blue || !st.Latched {
		t.Errorf("status %+v", st)
	}
	if n := len(x.ev.blocked()); n != 1 {
		t.Errorf("%d notices, want 1", n)
	}
}

// Someone flips to the same colour while the guard's Revert runs; Revert
// fails because `from` is no longer active. That flip is a flip: armed, not
// latched, not reverted.
func TestRevertRacesManualFlip(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.sw.err = errors.New("conflict")
	x.sw.during = func() { x.flip(config.Blue) }
	x.flip(config.Green)
	x.record(config.Green, 100, 100, 0)
	x.evaluate()
	st := x.g.Status("app")
	if st.Active != config.Blue || st.Latched || !st.Armed || st.LastTrip != nil || st.Outcome.State != Watching {
		t.Errorf("status %+v", st)
	}
	if n := len(x.ev.blocked()); n != 0 {
		t.Errorf("%d notices, want 0", n)
	}
}

func TestRecordAt(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.clk.Advance(time.Minute)
	x.flip(config.Green)
	x.svc.RecordAt(config.Green, true, 0, x.clk.Now())
	x.svc.RecordAt(config.Green, true, 0, time.Time{}) // now
	x.svc.RecordAt(config.Green, true, 0, x.clk.Now().Add(-11*time.Second))
	if g := x.g.Status("app").Color(config.Green); g.Requests != 2 || g.Errors != 2 {
		t.Errorf("green %+v, want the two recent requests", g)
	}
}

func TestActivatedStartsAfresh(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	startup(config.Blue)(x)
	x.record(config.Green, 50, 50, 0) // e.g. preview requests to idle green
	x.record(config.Blue, 30, 0, 0)
	x.flip(config.Green)
	st := x.g.Status("app")
	if g := st.Color(config.Green); g.Requests != 0 || g.Errors != 0 {
		t.Errorf("green after becoming active: %+v", g)
	}
	if b := st.Color(config.Blue); b.Requests != 30 {
		t.Errorf("blue (now idle) lost its counts: %+v", b)
	}
	x.evaluate()
	if n := len(x.sw.reverts()); n != 0 {
		t.Errorf("old errors tripped the guard")
	}
}

func TestConfigureKeepsWindows(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.flip(config.Green)
	x.record(config.Green, 10, 1, 0)
	cfg := defaultCfg()
	cfg.MaxErrorRate = 0.5
	x.g.Configure("app", cfg, allOf)
	if x.g.Service("app") != x.svc {
		t.Fatal("Configure replaced the Service")
	}
	if st := x.g.Status("app"); st.Color(config.Green).Requests != 10 || !st.Armed {
		t.Errorf("after an update: %+v", st)
	}
	cfg.Window = config.Duration(30 * time.Second)
	x.g.Configure("app", cfg, allOf)
	if st := x.g.Status("app"); st.Color(config.Green).Requests != 0 || st.Window != 30*time.Second {
		t.Errorf("after a window change: %+v", st)
	}
	x.record(config.Green, 10, 1, 0)
	if st := x.g.Status("app"); st.Color(config.Green).Requests != 10 {
		t.Errorf("the kept Service does not record into the new window: %+v", st)
	}
	x.g.Remove("app")
	if x.g.Service("app") != nil || x.g.Status("app").Active != config.NoColor {
		t.Error("Remove left the service")
	}
	x.svc.RecordAt(config.Green, true, 0, time.Time{}) // a removed Service still works
	var nilSvc *Service
	nilSvc.RecordAt(config.Green, true, 0, time.Now())
	x.svc.RecordAt(config.NoColor, true, 0, time.Time{})
	x.flip(config.Blue) // ignored
	x.evaluate()
}

func TestOutcome(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	if o := x.g.Outcome("app"); o.State != WatchUnknown {
		t.Errorf("before any activation: %+v", o)
	}
	if o := x.g.Outcome("nope"); o.State != WatchUnknown {
		t.Errorf("unknown service: %+v", o)
	}
	startup(config.Blue)(x)
	if o := x.g.Outcome("app"); o.State != Stable || !o.Startup {
		t.Errorf("after start-up: %+v", o)
	}
	x.clk.Advance(time.Minute)
	x.flip(config.Green)
	o := x.g.Outcome("app")
	if o.State != Watching || !o.Flip.Equal(t0.Add(time.Minute)) || !o.Until.Equal(t0.Add(11*time.Minute)) {
		t.Errorf("after a flip: %+v", o)
	}
	x.clk.Advance(10 * time.Minute)
	if o := x.g.Outcome("app"); o.State != Stable {
		t.Errorf("after the watch: %+v", o)
	}
	// Failover after the watch still makes the last flip Reverted.
	x.sw.set(config.Green, 0, 2, 2)
	x.evaluate()
	if o := x.g.Outcome("app"); o.State != Reverted || o.Trip == nil || o.Trip.Reason != switchboard.Failover {
		t.Errorf("after failover: %+v", o)
	}
	// The guard's own revert is not a new flip: Flip still names the manual one.
	if o := x.g.Outcome("app"); !o.Flip.Equal(t0.Add(time.Minute)) {
		t.Errorf("Flip moved to the revert: %+v", o)
	}
}

func TestOutcomeWatchAlways(t *testing.T) {
	cfg := defaultCfg()
	cfg.Watch = config.Watch{Always: true}
	x := newHarness(t, cfg, allOf)
	x.flip(config.Green)
	if o := x.g.Outcome("app"); o.State != Watching || !o.Until.Equal(t0.Add(10*time.Second)) {
		t.Errorf("after a flip: %+v", o)
	}
	x.clk.Advance(10 * time.Second)
	if o := x.g.Outcome("app"); o.State != Stable {
		t.Errorf("a window after the flip: %+v", o)
	}
	x.record(config.Green, 100, 100, 0)
	x.evaluate()
	if o := x.g.Outcome("app"); o.State != Reverted {
		t.Errorf("after a late trip: %+v", o)
	}
}

func TestOutcomeGuardDisabled(t *testing.T) {
	cfg := defaultCfg()
	cfg.Enabled = false
	x := newHarness(t, cfg, allOf)
	x.flip(config.Green)
	if o := x.g.Outcome("app"); o.State != Stable {
		t.Errorf("guard disabled: %+v", o)
	}
}

// End to end with the real clock and Run: the revert follows the errors
// well within a second.
func TestRunRevertsQuickly(t *testing.T) {
	g := New(Options{})
	sw := signalSwitcher{newFakeSwitcher(g, &fakeClock{t: time.Now()}), make(chan time.Time, 1)}
	g.Configure("app", defaultCfg(), allOf)
	sw.change(switchboard.Change{To: config.Green, Reason: switchboard.Manual, Changed: true})
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { g.Run(ctx, sw); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	svc := g.Service("app")
	start := time.Now() // the condition is met within the next 40 records
	for i := range 100 {
		svc.RecordAt(config.Green, i%2 == 0, time.Millisecond, time.Now())
	}
	select {
	case at := <-sw.reverted:
		if d := at.Sub(start); d > time.Second {
			t.Errorf("revert %s after the condition, want < 1s", d)
		} else {
			t.Logf("revert %s after the condition", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no revert")
	}
}

// signalSwitcher reports the time of each Revert call.
type signalSwitcher struct {
	*fakeSwitcher
	reverted chan time.Time
}

func (s signalSwitcher) Revert(service string, from, to config.Color, reason switchboard.Reason, detail string) (switchboard.Change, error) {
	select {
	case s.reverted <- time.Now():
	default:
	}
	return s.fakeSwitcher.Revert(service, from, to, reason, detail)
}

func TestRunStopsOnCancel(t *testing.T) {
	g := New(Options{Tick: time.Hour})
	if g.tick != MaxTick {
		t.Errorf("tick %s, want capped at %s", g.tick, MaxTick)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { g.Run(ctx, newFakeSwitcher(g, &fakeClock{t: t0})); close(stopped) }()
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestStatus(t *testing.T) {
	cfg := defaultCfg()
	cfg.MaxP99 = config.Duration(time.Second)
	cfg.MinRequests = 1000
	x := newHarness(t, cfg, allOf)
	if st := x.g.Status("nope"); st.Active != config.NoColor {
		t.Errorf("unknown: %+v", st)
	}
	x.flip(config.Green)
	x.record(config.Green, 100, 10, 100*time.Millisecond)
	st := x.g.Status("app")
	g := st.Color(config.Green)
	if g.Requests != 100 || g.Errors != 10 || g.Rate != 0.1 || g.P99 < 96*time.Millisecond || g.P99 > 128*time.Millisecond {
		t.Errorf("green %+v", g)
	}
	if !st.Armed || !st.ArmedUntil.Equal(t0.Add(10*time.Minute)) || st.ArmedAlways || st.Window != 10*time.Second {
		t.Errorf("status %+v", st)
	}
	if st.Color(config.NoColor) != (ColorStatus{}) {
		t.Error("Color(NoColor) not zero")
	}
}

// Requests record while flips, reconfigurations and decisions go on.
func TestRecordDuringChanges(t *testing.T) {
	x := newHarness(t, defaultCfg(), allOf)
	x.flip(config.Green)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := x.g.Service("app")
			for j := 0; ctx.Err() == nil; j++ {
				svc.RecordAt(config.Colors[(i+j)%2], j%50 == 0, time.Millisecond, time.Time{})
			}
		}()
	}
	for i := range 200 {
		c := config.Colors[i%2]
		x.sw.change(switchboard.Change{To: c, From: c.Other(), Reason: switchboard.Manual, Forced: i%3 == 0, Changed: true})
		cfg := defaultCfg()
		cfg.MaxP99 = config.Duration(time.Duration(i%2) * time.Second)
		x.g.Configure("app", cfg, allOf)
		x.evaluate()
		_ = x.g.Status("app")
		x.clk.Advance(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
}

func TestRecordDoesNotAllocate(t *testing.T) {
	cfg := defaultCfg()
	cfg.MaxP99 = config.Duration(time.Second)
	g := New(Options{})
	g.Configure("app", cfg, allOf)
	svc := g.Service("app")
	if n := testing.AllocsPerRun(1000, func() { svc.RecordAt(config.Green, true, time.Millisecond, time.Time{}) }); n != 0 {
		t.Errorf("RecordAt(now) allocates %v times", n)
	}
	end := time.Now()
	if n := testing.AllocsPerRun(1000, func() { svc.RecordAt(config.Green, false, time.Millisecond, end) }); n != 0 {
		t.Errorf("RecordAt allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { g.Service("app") }); n != 0 {
		t.Errorf("Service allocates %v times", n)
	}
}

func TestEnums(t *testing.T) {
	for s, want := range map[WatchState]string{WatchUnknown: "unknown", Watching: "watching", Stable: "stable", Reverted: "reverted"} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", s, got, want)
		}
	}
}

func benchService(latency bool) *Service {
	cfg := defaultCfg()
	if latency {
		cfg.MaxP99 = config.Duration(time.Second)
	}
	g := New(Options{})
	g.Configure("app", cfg, allOf)
	g.Changed(switchboard.Change{Service: "app", To: config.Green, Reason: switchboard.Manual, Changed: true, At: time.Now()})
	return g.Service("app")
}

// BenchmarkRecord is the request path's cost with RecordAt reading the
// clock itself: clock read plus the atomics.
func BenchmarkRecord(b *testing.B) {
	for _, latency := range []bool{false, true} {
		b.Run(map[bool]string{false: "counts", true: "p99"}[latency], func(b *testing.B) {
			svc := benchService(latency)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				svc.RecordAt(config.Green, i%16 == 0, 20*time.Millisecond, time.Time{})
			}
		})
	}
}

// BenchmarkRecordAt is RecordAt without its clock read, as a proxy that
// already holds the completion time would call it.
func BenchmarkRecordAt(b *testing.B) {
	svc := benchService(true)
	end := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		svc.RecordAt(config.Green, i%16 == 0, 20*time.Millisecond, end)
	}
}

// BenchmarkRecordParallel has every goroutine hit the same service, colour
// and bucket: the worst case for contention.
func BenchmarkRecordParallel(b *testing.B) {
	for _, latency := range []bool{false, true} {
		b.Run(map[bool]string{false: "counts", true: "p99"}[latency], func(b *testing.B) {
			svc := benchService(latency)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					svc.RecordAt(config.Green, i%16 == 0, 20*time.Millisecond, time.Time{})
					i++
				}
			})
		})
	}
}
