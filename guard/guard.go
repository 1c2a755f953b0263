// Package guard watches the active colour of every service and asks the
// switchboard to make the previous colour active again when the active one
// fails: the error (or latency) trigger, armed for `watch` after each flip,
// and failover, armed all the time. It never flips by itself; the
// switchboard, which owns the active colour, does (SPEC "Guard (automatic
// revert)").
//
// The request path only touches Service.Record: atomics on a per-service,
// per-colour Window, no lock, no allocation. Decisions are made by Run on
// ticks of at most 100ms, so a revert follows its condition well within the
// promised second.
package guard

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"switchd/config"
)

// Reason says why the guard asked for a revert.
type Reason string

const (
	// Trigger: the active colour's error rate (or p99 latency) reached its
	// limit while the trigger was armed.
	Trigger Reason = "guard"
	// Failover: every upstream of the active colour is known down and the
	// other colour is healthy.
	Failover Reason = "failover"
)

// String returns "guard" or "failover".
func (r Reason) String() string { return string(r) }

// ErrUnknownService is returned for a service that is not configured.
var ErrUnknownService = errors.New("unknown service")

// errNoSwitcher makes a trip without a Switcher look like a refusal, so it
// is logged and retried like one.
var errNoSwitcher = errors.New("no switcher configured")

// Defaults and limits.
const (
	// DefaultTick is how often Run evaluates every service.
	DefaultTick = 50 * time.Millisecond
	// MaxTick bounds Options.Tick: the spec promises a revert within one
	// second of the condition, and the window itself moves in 100ms steps.
	MaxTick = 100 * time.Millisecond
	// DefaultWindow is used when config.Guard.Window is zero.
	DefaultWindow = 10 * time.Second
	// retryAfterRefusal spaces out attempts after the Switcher refused a
	// revert, so that a persistent refusal does not call it every tick.
	retryAfterRefusal = time.Second
)

// Switcher is the one owner of the active colour (implemented by the
// switchboard).
type Switcher interface {
	// Revert makes `to` active if `from` is still active, for reason guard
	// or failover; detail is a human sentence such as "error rate 0.31 >=
	// 0.05 over 10s (62 of 200 requests)". It returns an error when it
	// refused (the state changed meanwhile, the target is unhealthy, …).
	//
	// When it succeeds it must call Guard.Activated(service, to, …) like
	// after any other change, before or after returning. The guard never
	// holds its lock while calling Revert, so calling back is safe.
	Revert(service string, from, to config.Color, reason Reason, detail string) error
}

// Health tells the guard about pools (implemented by the health side).
type Health interface {
	// Counts returns, for one colour of a service, the upstreams that are
	// Up, those that are known Down (Unknown ones are neither) and the total.
	Counts(service string, c config.Color) (up, down, total int)
}

// Events receives guard_blocked notices: a revert was due but the previous
// colour is unhealthy (or the Switcher refused). Sent once per episode, not
// every tick.
type Events interface {
	GuardBlocked(service string, from, to config.Color, reason Reason, detail string)
}

// Options configures New.
type Options struct {
	// Switcher performs reverts. Required: nil only logs the trips (as
	// refused reverts).
	Switcher Switcher
	// Health reports pool health. nil turns failover off and lets every
	// revert through to the Switcher, whose own health gate then decides.
	Health Health
	// Events receives guard_blocked notices. nil: none are sent.
	Events Events
	// Logger receives trips and blocked reverts at error level. nil: no logs.
	Logger *zap.Logger
	// Trips counts successful reverts made by the error/latency trigger
	// (not failover), labelled by service: switchd_guard_trips_total.
	// nil: not counted.
	Trips *prometheus.CounterVec
	// Tick is how often Run evaluates. Zero: DefaultTick; above MaxTick:
	// MaxTick.
	Tick time.Duration

	// now replaces time.Now in tests.
	now func() time.Time
}

// Guard is the decision engine. Create it with New; the zero value is
// unusable. Its methods are safe for concurrent use.
type Guard struct {
	sw     Switcher
	health Health
	events Events
	log    *zap.Logger
	trips  *prometheus.CounterVec
	tick   time.Duration
	clk    *clock

	// recs maps names to recorders; copy-on-write so that Service needs no
	// lock (it may be called per request).
	recs atomic.Pointer[map[string]*Service]

	mu   sync.Mutex
	svcs map[string]*svcState
	// changed is closed and replaced whenever an Outcome may have changed,
	// to wake Wait.
	changed chan struct{}
}

// New returns a Guard with no services; add them with Configure.
func New(o Options) *Guard {
	g := &Guard{
		sw:      o.Switcher,
		health:  o.Health,
		events:  o.Events,
		log:     o.Logger,
		trips:   o.Trips,
		tick:    o.Tick,
		clk:     &clock{now: o.now},
		svcs:    make(map[string]*svcState),
		changed: make(chan struct{}),
	}
	g.clk.base = g.clk.wall()
	if g.log == nil {
		g.log = zap.NewNop()
	}
	if g.tick <= 0 {
		g.tick = DefaultTick
	}
	g.tick = min(g.tick, MaxTick)
	g.recs.Store(&map[string]*Service{})
	return g
}

// clock is the guard's time source: a monotonic base for the windows and
// wall time for deadlines. Tests replace now.
type clock struct {
	base time.Time
	now  func() time.Time
}

func (c *clock) wall() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// mono converts t to window time. t.Sub uses the monotonic readings when both
// have one, so a wall-clock step does not move the windows.
func (c *clock) mono(t time.Time) int64 { return int64(t.Sub(c.base)) }

func (c *clock) monoNow() int64 {
	if c.now != nil {
		return c.mono(c.now())
	}
	return int64(time.Since(c.base))
}

// notifyLocked wakes every Wait. g.mu must be held.
func (g *Guard) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Configure adds a service or updates its configuration. An update keeps
// the service's windows, state and Service pointer; only a change of the
// window length or switching max_p99 on or off starts the counting afresh
// (the buckets are laid out differently).
func (g *Guard) Configure(name string, cfg config.Guard, minHealthy config.MinHealthy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.svcs[name]
	if st == nil {
		st = &svcState{rec: &Service{clk: g.clk}}
		g.svcs[name] = st
		m := maps.Clone(*g.recs.Load())
		m[name] = st.rec
		g.recs.Store(&m)
	}
	st.cfg, st.minHealthy = cfg, minHealthy
	st.gen++
	length, latency := windowLength(cfg), cfg.MaxP99 > 0
	if st.rec.length != length || st.rec.latency != latency {
		for i := range st.rec.win {
			st.rec.win[i].Store(NewWindow(length, DefaultResolution, latency))
		}
		st.rec.length, st.rec.latency = length, latency
	}
	g.notifyLocked()
}

// Remove forgets a service. Its Service keeps working but is no longer
// judged.
func (g *Guard) Remove(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.svcs[name]; !ok {
		return
	}
	delete(g.svcs, name)
	m := maps.Clone(*g.recs.Load())
	delete(m, name)
	g.recs.Store(&m)
	g.notifyLocked()
}

// Service returns the recorder of a service, or nil for an unknown one
// (whose Record does nothing). Lock-free.
func (g *Guard) Service(name string) *Service {
	return (*g.recs.Load())[name]
}

// Activated is called by the switchboard after every change of the active
// colour, including its own reverts for the guard, and once at start-up for
// the restored state (startup true). It starts the new colour's counting
// afresh. A flip arms the trigger for `watch`; the start-up restore arms it
// only with watch = "always". forced marks a colour made active with force:
// failover leaves it alone until it has been seen healthy. Unknown services
// and NoColor are ignored.
func (g *Guard) Activated(name string, active config.Color, at time.Time, forced, startup bool) {
	if !active.Valid() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.svcs[name]
	if st == nil {
		return
	}
	if at.IsZero() {
		at = g.clk.wall() // a zero time would read as "never activated"
	}
	st.rec.win[active.Index()].Load().Reset()
	defer g.notifyLocked()
	if p := st.pending; p != nil && !startup && !p.consumed && active == p.trip.To {
		// Our own revert (or, rarely, a manual flip to the same colour at
		// the same moment: revert sorts that out when Revert fails).
		p.consumed, p.at, p.forced = true, at, forced
		st.active = active
		st.latched = true
		if p.done {
			st.pending = nil
		}
		return
	}
	if st.pending != nil && st.pending.done {
		st.pending = nil // its Activated never came; this flip supersedes it
	}
	st.flip(active, at, forced, startup)
}

// RestoreLatched is Activated for the start-up restore of a colour the guard
// or failover itself made active before a restart: the latch holds, so
// nothing automatic happens (no failover back to the colour the guard
// rejected) until the next flip, as if switchd had never stopped.
func (g *Guard) RestoreLatched(name string, active config.Color, at time.Time) {
	g.Activated(name, active, at, false, true)
	g.mu.Lock()
	defer g.mu.Unlock()
	if st := g.svcs[name]; st != nil && st.active == active {
		st.latched = true
		g.notifyLocked()
	}
}
