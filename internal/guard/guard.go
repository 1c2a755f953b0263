package guard

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

// Defaults and limits.
const (
	// DefaultTick is how often Run evaluates every service.
	DefaultTick = 50 * time.Millisecond
	// MaxTick bounds Options.Tick: switchd promises a revert within one
	// second of the condition, and the window itself moves in 100ms steps.
	MaxTick = 100 * time.Millisecond
	// retryAfterRefusal spaces out attempts after the Switcher refused a
	// revert, so that a persistent refusal does not call it every tick.
	retryAfterRefusal = time.Second
)

// Switcher is the one owner of the active colour: a *switchboard.Board.
type Switcher interface {
	// Revert makes `to` active if `from` is still active, for reason
	// switchboard.Guard or switchboard.Failover; detail is a human sentence
	// such as "error rate 0.31 >= 0.05 over 10s (62 of 200 requests)". It
	// returns an error when it refused (the state changed meanwhile, the
	// target is unhealthy, …). When it changes the colour it must tell
	// Guard.Changed before it returns, as the board tells every listener.
	Revert(service string, from, to config.Color, reason switchboard.Reason, detail string) (switchboard.Change, error)
	// Counts returns, for one colour of a service, the upstreams that are
	// Up, those that are known Down (Unknown ones are neither) and the
	// total. It must not wait for the lock under which changes are told:
	// the guard calls it holding its own.
	Counts(service string, c config.Color) (up, down, total int)
}

// Events receives guard_blocked notices: a revert was due but the previous
// colour is unhealthy (or the Switcher refused). Sent once per episode, not
// every tick.
type Events interface {
	GuardBlocked(service string, from, to config.Color, reason switchboard.Reason, detail string)
}

// Options configures New.
type Options struct {
	// Events receives guard_blocked notices. nil: none are sent.
	Events Events
	// Logger receives reverts and blocked reverts at error level. nil: no
	// logs.
	Logger *zap.Logger
	// Tick is how often Run evaluates. Zero: DefaultTick; above MaxTick:
	// MaxTick.
	Tick time.Duration

	// now replaces time.Now in tests.
	now func() time.Time
}

// Guard is the decision engine. Create it with New; the zero value is
// unusable. Its methods are safe for concurrent use.
type Guard struct {
	events Events
	log    *zap.Logger
	tick   time.Duration
	clk    *clock

	// recs maps names to recorders; copy-on-write so that Service needs no
	// lock (it may be called per request).
	recs atomic.Pointer[map[string]*Service]

	mu   sync.Mutex
	svcs map[string]*svcState
}

// New returns a Guard with no services; add them with Configure, tell it of
// changes through Changed, and judge them with Run.
func New(o Options) *Guard {
	g := &Guard{
		events: o.Events,
		log:    o.Logger,
		tick:   o.Tick,
		clk:    &clock{now: o.now},
		svcs:   make(map[string]*svcState),
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
	length, latency := windowLength(cfg), cfg.MaxP99 > 0
	if st.rec.length != length || st.rec.latency != latency {
		for i := range st.rec.win {
			st.rec.win[i].Store(NewWindow(length, DefaultResolution, latency))
		}
		st.rec.length, st.rec.latency = length, latency
	}
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
}

// Service returns the recorder of a service, or nil for an unknown one
// (whose RecordAt does nothing). Lock-free.
func (g *Guard) Service(name string) *Service {
	return (*g.recs.Load())[name]
}

// Changed implements switchboard.Listener: the board calls it after every
// change of an active colour, the guard's own reverts included, and for the
// state restored at start-up. It starts the new colour's counting afresh.
//
//   - A change for reason guard or failover is the guard's own revert (only
//     the guard asks for those): the trigger stays latched until the next
//     flip; failover stays armed. At start-up it is the restore of one made
//     before a restart: latched as if switchd had never stopped.
//   - A flip or rollback arms the trigger for `watch`, also when restored at
//     start-up mid-watch; the initial colour at start-up arms it only with
//     watch = "always". A forced change is exempt from failover until its
//     colour has been healthy once.
//
// Activating the colour already active, unknown services and NoColor are
// ignored.
func (g *Guard) Changed(c switchboard.Change) {
	if !c.To.Valid() || !c.Changed && !c.Startup {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.svcs[c.Service]
	if st == nil {
		return
	}
	if c.At.IsZero() {
		c.At = g.clk.wall() // a zero time would read as "never activated"
	}
	st.rec.win[c.To.Index()].Load().Reset()
	switch c.Reason {
	case switchboard.Guard, switchboard.Failover:
		t := &Trip{At: c.At, Reason: c.Reason, From: c.From, To: c.To, Detail: c.Detail, Generation: c.Generation}
		if c.Startup {
			st.flip(c, true)
			st.latch = t
			return
		}
		st.reverted(t)
	case switchboard.Manual, switchboard.Rollback:
		// A restart in the middle of the watch after a flip keeps watching
		// until changed_at + watch, as if switchd had never stopped.
		st.flip(c, false)
	default:
		st.flip(c, c.Startup)
	}
}
