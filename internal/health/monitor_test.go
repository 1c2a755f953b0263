package health

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/internal/config"
)

// bound is how long detection may take by the contract: the first failing
// probe comes within one (jittered) interval, fall-1 more follow, the last
// one may take the whole timeout. slack absorbs a loaded -race run.
func bound(h config.Health, slack time.Duration) time.Duration {
	return time.Duration(float64(h.Fall)*1.1*float64(h.Interval.D())) + h.Timeout.D() + slack
}

func TestMonitorKilledUpstream(t *testing.T) {
	h := fast()
	up, other := newUpstream(t), newUpstream(t)
	var rec recorder
	core, logs := observer.New(zapcore.InfoLevel)
	met := newMetrics()
	m := newMonitor(t, Options{Observer: &rec, Logger: zap.New(core), Metrics: met})
	mustSync(t, m, service("app", h, []string{up.addr()}, []string{other.addr()}))
	tg := m.Target("app", up.addr())
	waitState(t, tg, Up, 5*time.Second)
	waitState(t, m.Target("app", other.addr()), Up, 5*time.Second) // the idle colour is checked too
	time.Sleep(5 * h.Interval.D())                                 // several passing rounds: no new logs or events

	killed := time.Now()
	up.srv.Close()
	down := waitState(t, tg, Down, 5*time.Second)
	if took, max := down.Sub(killed), bound(h, time.Second); took > max {
		t.Errorf("killed upstream down after %v, want within %v", took, max)
	}

	// The observer hears of a transition just after the target's state
	// changed: give it a moment.
	trs := rec.of(up.addr())
	for deadline := time.Now().Add(2 * time.Second); len(trs) < 2 && time.Now().Before(deadline); trs = rec.of(up.addr()) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(trs) != 2 || trs[0].To != Up || trs[1].To != Down || trs[1].Passive || trs[1].Color != config.Blue {
		t.Fatalf("transitions %+v, want unknown→up→down", trs)
	}
	if !strings.Contains(trs[1].Err, "connection refused") {
		t.Errorf("down error %q, want connection refused", trs[1].Err)
	}

	var msgs []string
	for _, e := range logs.All() {
		if e.ContextMap()["upstream"] == up.addr() {
			msgs = append(msgs, e.Message+"/"+e.Level.String())
		}
	}
	if !slices.Equal(msgs, []string{"upstream up/info", "upstream down/warn"}) {
		t.Fatalf("logs %v, want one up (info) and one down (warn)", msgs)
	}
	down0 := logs.FilterMessage("upstream down").All()[0].ContextMap()
	if down0["service"] != "app" || down0["color"] != "blue" || down0["passive"] != false || down0["error"] == "" {
		t.Errorf("down log fields %v", down0)
	}

	healthy := series(t, met, "switchd_upstream_healthy")
	if healthy["blue,app,"+up.addr()] != 0 || healthy["green,app,"+other.addr()] != 1 {
		t.Errorf("upstream_healthy %v", healthy)
	}
	checks := series(t, met, "switchd_health_checks_total")
	if checks["blue,pass,app"] < 2 || checks["blue,fail,app"] < 2 || checks["green,pass,app"] < 2 {
		t.Errorf("health_checks_total %v", checks)
	}
}

func TestMonitorHungUpstream(t *testing.T) {
	h := fast()
	up := newUpstream(t)
	var rec recorder
	m := newMonitor(t, Options{Observer: &rec})
	mustSync(t, m, service("app", h, []string{up.addr()}, nil))
	tg := m.Target("app", up.addr())
	waitState(t, tg, Up, 5*time.Second)

	hung := time.Now()
	up.hang.Store(true)
	down := waitState(t, tg, Down, 5*time.Second)
	if took, max := down.Sub(hung), bound(h, time.Second); took > max {
		t.Errorf("hung upstream down after %v, want within %v", took, max)
	}
	if took, min := down.Sub(hung), time.Duration(h.Fall-1)*h.Interval.D()*9/10+h.Timeout.D(); took < min {
		t.Errorf("hung upstream down after %v, before fall probes could time out (%v)", took, min)
	}
	if trs := rec.of(up.addr()); len(trs) != 2 || trs[1].Err != "timeout after 200ms" {
		t.Fatalf("transitions %+v, want down with %q", trs, "timeout after 200ms")
	}

	// Back up once it answers again.
	up.hang.Store(false)
	waitState(t, tg, Up, 5*time.Second)
}

func TestMonitorHungFromStart(t *testing.T) {
	h := fast()
	hl := newHungListener(t)
	m := newMonitor(t, Options{})
	start := time.Now()
	mustSync(t, m, service("app", h, []string{hl.addr()}, nil))
	// Unknown until its first check, which times out.
	down := waitState(t, m.Target("app", hl.addr()), Down, 5*time.Second)
	if took := down.Sub(start); took < h.Timeout.D() || took > h.Timeout.D()+1500*time.Millisecond {
		t.Errorf("down after %v, want about the timeout %v", took, h.Timeout.D())
	}
	if e := m.Target("app", hl.addr()).Status().LastError; e != "timeout after 200ms" {
		t.Errorf("error %q", e)
	}
}

// TestMonitorRiseAfterFailure checks that a failing upstream needs exactly
// rise consecutive passes to come back.
func TestMonitorRiseAfterFailure(t *testing.T) {
	for _, rise := range []int{1, 2, 4} {
		h := fast()
		h.Rise = rise
		up := newUpstream(t)
		up.status.Store(503)
		var m *Monitor
		passesAtUp := make(chan int, 1)
		obs := observerFunc(func(tr Transition) {
			if tr.To == Up {
				// The Observer runs before any later probe is recorded.
				passesAtUp <- m.Target(tr.Service, tr.Address).Status().Passes
			}
		})
		m = newMonitor(t, Options{Observer: obs})
		mustSync(t, m, service("app", h, []string{up.addr()}, nil))
		tg := m.Target("app", up.addr())
		waitState(t, tg, Down, 5*time.Second)
		if e := tg.Status().LastError; e != "status 503, want 200-399" {
			t.Fatalf("error %q", e)
		}
		up.status.Store(200)
		select {
		case p := <-passesAtUp:
			if p != rise {
				t.Errorf("rise %d: up after %d passes", rise, p)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("rise %d: not up again", rise)
		}
		m.Close()
	}
}

func TestMonitorPassive(t *testing.T) {
	h := fast()
	h.Rise = 3
	up := newUpstream(t)
	core, logs := observer.New(zapcore.InfoLevel)
	met := newMetrics()
	var m *Monitor
	var mu sync.Mutex
	var trs []Transition
	var passesAtUp []int
	obs := observerFunc(func(tr Transition) {
		// An Observer may look targets up and read them.
		tg := m.Target(tr.Service, tr.Address)
		mu.Lock()
		defer mu.Unlock()
		trs = append(trs, tr)
		if tr.To == Up {
			passesAtUp = append(passesAtUp, tg.Status().Passes)
		}
	})
	m = newMonitor(t, Options{Observer: obs, Logger: zap.New(core), Metrics: met})
	mustSync(t, m, service("app", h, []string{up.addr()}, nil))
	tg := m.Target("app", up.addr())
	waitState(t, tg, Up, 5*time.Second)

	tg.Fail(errors.New("connection refused"))
	if tg.State() != Down {
		t.Fatalf("state %v right after Fail, want down", tg.State())
	}
	if v := series(t, met, "switchd_upstream_healthy")["blue,app,"+up.addr()]; v != 0 {
		t.Errorf("upstream_healthy %v after a passive failure, want 0", v)
	}
	tg.Fail(errors.New("connection refused")) // already down: no second event
	waitState(t, tg, Up, 5*time.Second)

	mu.Lock()
	defer mu.Unlock()
	if len(trs) != 3 || !trs[1].Passive || trs[1].To != Down || trs[1].Err != "connection refused" || trs[2].Passive {
		t.Fatalf("transitions %+v, want up, passive down, up", trs)
	}
	if passesAtUp[1] != h.Rise {
		t.Errorf("back up after %d passes, want rise=%d", passesAtUp[1], h.Rise)
	}
	pl := logs.FilterMessage("upstream down").All()
	if len(pl) != 1 || pl[0].ContextMap()["passive"] != true || pl[0].Level != zapcore.WarnLevel {
		t.Errorf("passive down logs %+v", pl)
	}
}

func TestMonitorSync(t *testing.T) {
	h := fast()
	h.Interval = config.Duration(time.Hour) // only the immediate first probe
	a, b, c := newUpstream(t), newUpstream(t), newUpstream(t)
	var rec recorder
	met := newMetrics()
	m := newMonitor(t, Options{Observer: &rec, Metrics: met})

	mustSync(t, m, service("app", h, []string{a.addr(), b.addr()}, nil))
	ta, tb := m.Target("app", a.addr()), m.Target("app", b.addr())
	waitState(t, ta, Up, 5*time.Second)
	waitState(t, tb, Up, 5*time.Second)
	if m.Target("app", c.addr()) != nil || m.Target("other", a.addr()) != nil {
		t.Fatal("Target returned an upstream that is not configured")
	}

	// Keep a, drop b, add c (in the other colour): a keeps its Target and
	// prober, c is probed at once, b stops.
	mustSync(t, m, service("app", h, []string{a.addr()}, []string{c.addr()}))
	tc := m.Target("app", c.addr())
	if tc == nil || tc.Color() != config.Green {
		t.Fatal("new upstream missing or wrong colour")
	}
	waitState(t, tc, Up, 5*time.Second)
	if m.Target("app", a.addr()) != ta || ta.State() != Up {
		t.Fatal("kept upstream lost its Target or state")
	}
	if m.Target("app", b.addr()) != nil {
		t.Fatal("removed upstream still has a Target")
	}
	time.Sleep(50 * time.Millisecond)
	if n := a.hits.Load(); n != 1 {
		t.Errorf("kept upstream probed %d times, want 1 (prober restarted without cause)", n)
	}
	healthy := series(t, met, "switchd_upstream_healthy")
	if _, ok := healthy["blue,app,"+b.addr()]; ok {
		t.Errorf("removed upstream still has a series: %v", healthy)
	}

	// New rise/fall only: no restart. New path: restart, probed at once on
	// the new path, state kept.
	h2 := h
	h2.Rise, h2.Fall = 5, 7
	mustSync(t, m, service("app", h2, []string{a.addr()}, []string{c.addr()}))
	time.Sleep(50 * time.Millisecond)
	if n := a.hits.Load(); n != 1 {
		t.Errorf("rise/fall change restarted the prober (%d probes)", n)
	}
	ta.mu.Lock()
	rise, fall := ta.rise, ta.fall
	ta.mu.Unlock()
	if rise != 5 || fall != 7 {
		t.Errorf("rise/fall %d/%d, want 5/7", rise, fall)
	}
	h2.Path = "/ready"
	mustSync(t, m, service("app", h2, []string{a.addr()}, []string{c.addr()}))
	waitFor(t, 5*time.Second, "probe on the new path", func() bool {
		r := a.lastRequest()
		return a.hits.Load() == 2 && r != nil && r.URL.Path == "/ready"
	})
	if ta.State() != Up {
		t.Errorf("state %v after a settings change, want up (kept)", ta.State())
	}

	// Move a to the other colour: same Target, colour and series follow.
	mustSync(t, m, service("app", h2, nil, []string{c.addr(), a.addr()}))
	if m.Target("app", a.addr()) != ta || ta.Color() != config.Green {
		t.Fatalf("moved upstream: same target %v, colour %v", m.Target("app", a.addr()) == ta, ta.Color())
	}
	healthy = series(t, met, "switchd_upstream_healthy")
	if _, ok := healthy["blue,app,"+a.addr()]; ok || healthy["green,app,"+a.addr()] != 1 {
		t.Errorf("upstream_healthy after a colour move: %v", healthy)
	}

	// No transitions beyond the three first checks.
	if n := len(rec.all()); n != 3 {
		t.Errorf("%d transitions, want 3: %+v", n, rec.all())
	}

	// Drop the service: everything stops.
	mustSync(t, m)
	if m.Target("app", a.addr()) != nil || m.Target("app", c.addr()) != nil {
		t.Fatal("targets left after removing the service")
	}
}

func TestMonitorDuplicateAddress(t *testing.T) {
	h := fast()
	h.Interval = config.Duration(time.Hour)
	up := newUpstream(t)
	m := newMonitor(t, Options{})
	mustSync(t, m, service("app", h, []string{up.addr(), up.addr()}, []string{up.addr()}))
	tg := m.Target("app", up.addr())
	waitState(t, tg, Up, 5*time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := up.hits.Load(); n != 1 || tg.Color() != config.Blue {
		t.Fatalf("probed %d times as %v, want once as blue", n, tg.Color())
	}
	// Two services may share an upstream; each has its own Target.
	mustSync(t, m, service("app", h, []string{up.addr()}, nil), service("api", h, []string{up.addr()}, nil))
	if m.Target("api", up.addr()) == nil || m.Target("api", up.addr()) == tg {
		t.Fatal("second service shares the first one's Target")
	}
}

// TestMonitorSchedule checks that rounds are timed from the start of one
// probe to the start of the next, that the jitter is drawn every round, and
// that the first probe does not wait.
func TestMonitorSchedule(t *testing.T) {
	const (
		interval = 400 * time.Millisecond
		slow     = 250 * time.Millisecond // each probe takes this long
	)
	var mu sync.Mutex
	var starts []time.Time
	up := newUpstream(t)
	up.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(slow)
	})
	h := fast()
	h.Interval = config.Duration(interval)
	h.Timeout = config.Duration(time.Second)
	var draws atomic.Int64
	m := newMonitor(t, Options{})
	m.jitter = func(d time.Duration) time.Duration {
		if d != interval {
			t.Errorf("jitter asked for %v, want %v", d, interval)
		}
		draws.Add(1)
		return d
	}
	synced := time.Now()
	mustSync(t, m, service("app", h, []string{up.addr()}, nil))
	waitFor(t, 10*time.Second, "6 probes", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts) >= 6 })
	m.Close()

	mu.Lock()
	defer mu.Unlock()
	if first := starts[0].Sub(synced); first > 200*time.Millisecond {
		t.Errorf("first probe after %v, want at once", first)
	}
	var gaps []time.Duration
	for i := 1; i < len(starts); i++ {
		gaps = append(gaps, starts[i].Sub(starts[i-1]))
	}
	slices.Sort(gaps)
	// Start to start gives 400ms; end to start could never go below 650ms.
	// Load only stretches gaps, so the shortest one is the telling one.
	if g := gaps[0]; g < interval-20*time.Millisecond || g >= interval+slow-50*time.Millisecond {
		t.Errorf("shortest gap %v (gaps %v), want about %v", g, gaps, interval)
	}
	if d := draws.Load(); d < int64(len(starts)-1) {
		t.Errorf("%d jitter draws for %d probes, want one per round", d, len(starts))
	}
}

// TestMonitorStopMidProbe: removing an upstream whose probe hangs stops
// at once and reports nothing.
func TestMonitorStopMidProbe(t *testing.T) {
	h := fast()
	h.Timeout = config.Duration(time.Minute)
	hl := newHungListener(t)
	var rec recorder
	m := newMonitor(t, Options{Observer: &rec})
	mustSync(t, m, service("app", h, []string{hl.addr()}, nil))
	tg := m.Target("app", hl.addr())
	time.Sleep(100 * time.Millisecond) // the first probe is now waiting
	start := time.Now()
	mustSync(t, m)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Sync waited %v for a hung probe", took)
	}
	if tg.State() != Unknown || len(rec.all()) != 0 || !tg.Status().LastCheck.IsZero() {
		t.Errorf("a cancelled probe was recorded: %+v", tg.Status())
	}
	// A passive failure on a removed Target reaches no one.
	tg.Fail(errors.New("connection refused"))
	if len(rec.all()) != 0 {
		t.Errorf("removed upstream reported %+v", rec.all())
	}
}

func TestMonitorClose(t *testing.T) {
	h := fast()
	up := newUpstream(t)
	m := NewMonitor(Options{})
	mustSync(t, m, service("app", h, []string{up.addr()}, nil))
	waitState(t, m.Target("app", up.addr()), Up, 5*time.Second)
	m.Close()
	m.Close()
	n := up.hits.Load()
	if err := m.Sync([]config.Service{service("app", h, []string{up.addr(), "127.0.0.1:1"}, nil)}); err != nil {
		t.Fatalf("Sync after Close: %v", err)
	}
	time.Sleep(5 * h.Interval.D())
	if up.hits.Load() != n || m.Target("app", "127.0.0.1:1") != nil {
		t.Fatal("probing after Close")
	}
	if m.Target("app", up.addr()) == nil {
		t.Fatal("targets unreadable after Close")
	}
}

// TestMonitorManyUpstreams runs many probers through syncs and a close
// under -race; goleak in TestMain checks that all of them stopped.
func TestMonitorManyUpstreams(t *testing.T) {
	h := fast()
	h.Interval = config.Duration(10 * time.Millisecond)
	var addrs []string
	for range 20 {
		addrs = append(addrs, newUpstream(t).addr())
	}
	m := newMonitor(t, Options{Metrics: newMetrics(), Observer: observerFunc(func(Transition) {})})
	var wg sync.WaitGroup
	for i := range 10 {
		mustSync(t, m, service("app", h, addrs[:10+i], addrs[10+i:]))
		tg := m.Target("app", addrs[i])
		wg.Go(func() { tg.Fail(errors.New("connection reset by peer")) })
		time.Sleep(15 * time.Millisecond)
	}
	wg.Wait()
	for _, a := range addrs {
		waitState(t, m.Target("app", a), Up, 5*time.Second)
	}
}
